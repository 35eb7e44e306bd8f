"""Models end to end: train -> log_model -> register -> alias -> serve -> query.

Run it inside a git repository (the model's run goes to refs/gittrack/runs/*, the
registry to refs/gittrack/models/*). Needs scikit-learn. Then try:
gittrack models list, gittrack models show iris-like@prod.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
from sklearn.linear_model import LogisticRegression

import gittrack

# 1. Train a small classifier on made-up data with named columns.
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 2))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
columns = {"width": X[:, 0].tolist(), "height": X[:, 1].tolist()}

gittrack.set_experiment("models-example")
with gittrack.start_run(run_name="logreg") as run:
    model = LogisticRegression().fit(X, y)
    gittrack.log_param("C", 1.0)
    gittrack.log_metric("accuracy", float(model.score(X, y)))
    # 2. Log it (MLflow's MLmodel layout) and register it as the next version.
    info = gittrack.sklearn.log_model(
        model,
        "model",
        registered_model_name="iris-like",
        input_example={"width": columns["width"][:3], "height": columns["height"][:3]},
    )
print(f"logged {info.model_uri} as iris-like version {info.registered_model_version}")

# 3. Point the prod alias at it (the move is a commit in the alias's history).
gittrack.set_model_alias("iris-like", "prod", info.registered_model_version or 1)

# 4. Serve models:/iris-like@prod on a free loopback port, in a subprocess (`gittrack
# models serve`, run as `python -m gittrack` so that no activated venv is needed).
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
serve = ["models", "serve", "-m", "models:/iris-like@prod", "--port", str(port)]
server = subprocess.Popen([sys.executable, "-m", "gittrack", *serve])
try:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # wait until /ping answers
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the model server did not start") from None
            time.sleep(0.1)

    # 5. Query it with MLflow's scoring protocol.
    payload = {"dataframe_split": {"columns": ["width", "height"], "data": [[1.0, 1.0], [-2, 0]]}}
    request = urllib.request.Request(
        f"{base}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        predictions = json.load(r)["predictions"]
    print("predictions:", predictions)
    assert predictions == [1, 0], predictions
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
