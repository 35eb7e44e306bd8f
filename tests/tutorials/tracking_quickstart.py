"""MLflow's "5 minute Tracking Quickstart" as a migrating user runs it.

The tutorial's calls, in its order, with two lines changed: ``import gittrack as mlflow``
(and ``infer_signature`` from ``gittrack.models``), and the tracking URI, which names a
repository (argv[1]) instead of an MLflow server. The last lines print what the test
checks.
"""

import sys

import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

import gittrack as mlflow
from gittrack.models import infer_signature

mlflow.set_tracking_uri(sys.argv[1])

X, y = datasets.load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
params = {"solver": "lbfgs", "max_iter": 1000, "multi_class": "auto", "random_state": 8888}
lr = LogisticRegression(**{k: v for k, v in params.items() if k != "multi_class"})
lr.fit(X_train, y_train)
y_pred = lr.predict(X_test)
accuracy = accuracy_score(y_test, y_pred)

mlflow.set_experiment("MLflow Quickstart")
with mlflow.start_run():
    mlflow.log_params(params)
    mlflow.log_metric("accuracy", accuracy)
    mlflow.set_tag("Training Info", "Basic LR model for iris data")
    signature = infer_signature(X_train, lr.predict(X_train))
    model_info = mlflow.sklearn.log_model(
        sk_model=lr,
        name="iris_model",
        signature=signature,
        input_example=X_train,
        registered_model_name="tracking-quickstart",
    )

loaded_model = mlflow.pyfunc.load_model(model_info.model_uri)
predictions = loaded_model.predict(X_test)
iris_feature_names = datasets.load_iris().feature_names
result = pd.DataFrame(X_test, columns=iris_feature_names)
result["actual_class"] = y_test
result["predicted_class"] = predictions
print(result[:4])

# What the test checks (not part of the tutorial).
runs = mlflow.search_runs()
row = runs.iloc[0]
print("runs", len(runs), row["status"], row["params.solver"], row["tags.Training Info"])
print("accuracy", row["metrics.accuracy"] == accuracy)
print("predictions", list(predictions) == list(lr.predict(X_test)))
model = mlflow.MlflowClient().get_registered_model("tracking-quickstart")
print("registered", model.name, [v.version for v in model.latest_versions])
