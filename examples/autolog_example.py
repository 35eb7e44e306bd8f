"""Autologging: record training runs without a single log call.

Run it inside a git repository. ``gittrack.autolog()`` is called before scikit-learn and
XGBoost are imported: the patches are applied when they are. Needs the ``autolog``
extra. Then try ``gittrack list`` and ``gittrack show <run>``.
"""

from __future__ import annotations

import gittrack

gittrack.autolog(log_input_examples=True)

import numpy as np  # noqa: E402  (imported after autolog on purpose)
from sklearn import metrics  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3))
y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
X_train, y_train, X_test, y_test = X[:200], y[:200], X[200:], y[200:]

# 1. One fit = one run: params, training metrics, tags, the model and the data digest.
model = LogisticRegression(C=0.5).fit(X_train, y_train)
run = gittrack.last_active_run()
assert run is not None
print("run", run.info.run_id, run.info.status)
print("training_accuracy_score =", round(run.data.metrics["training_accuracy_score"], 3))

# 2. Metrics computed afterwards on other data land in the same run.
predictions = model.predict(X_test)
metrics.accuracy_score(y_test, predictions)
run = gittrack.get_run(run.info.run_id)
print("accuracy_score_X_test =", round(run.data.metrics["accuracy_score_X_test"], 3))

# 3. The logged model loads back and predicts like the trained one.
loaded = gittrack.sklearn.load_model(f"runs:/{run.info.run_id}/model")
print("same predictions:", bool((loaded.predict(X_test) == predictions).all()))

# 4. A parameter search: a parent run and one child run per best candidate.
search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(X_train, y_train)
parent = gittrack.last_active_run()
assert parent is not None
print("search best_cv_score =", round(parent.data.metrics["best_cv_score"], 3))

# 5. XGBoost's native training: a metric per iteration, the best iteration, the model.
import xgboost as xgb  # noqa: E402

dtrain = xgb.DMatrix(X_train, label=y_train)
dtest = xgb.DMatrix(X_test, label=y_test)
booster = xgb.train(
    {"objective": "binary:logistic", "max_depth": 2},
    dtrain,
    num_boost_round=50,
    evals=[(dtest, "test")],
    early_stopping_rounds=5,
    verbose_eval=False,
)
run = gittrack.last_active_run()
assert run is not None
steps = len(gittrack.get_metric_history(run.info.run_id, "test-logloss"))
print("xgboost best_iteration =", int(run.data.metrics["best_iteration"]), "points:", steps)

# 6. System metrics beside your own, sampled while the run is active.
with gittrack.start_run(log_system_metrics=True) as run:
    gittrack.log_metric("loss", 0.25)
names = sorted(gittrack.get_run(run.info.run_id).data.metrics)
print("system metrics:", len([n for n in names if n.startswith("system/")]))
