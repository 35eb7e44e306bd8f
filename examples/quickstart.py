"""Quickstart: log a small grid of runs, then list them like git.

Run it inside any git repository (runs go to refs/gittrack/runs/*), or anywhere else
(runs go to ./.gittrack-runs). Then try: gittrack list, gittrack show <run>.
"""

from __future__ import annotations

import math

import gittrack

gittrack.set_experiment("quickstart")
for alpha in (0.1, 0.5, 1.0):
    with gittrack.start_run(run_name=f"alpha-{alpha}", tags={"team": "demo"}) as run:
        gittrack.log_params({"alpha": alpha, "epochs": 20})
        for epoch in range(20):
            rmse = 1.0 / (1 + alpha * epoch) + 0.01 * math.sin(epoch)
            gittrack.log_metric("rmse", rmse, step=epoch)
        gittrack.set_tag("note", "grid search")
    print(f"{run.info.run_id[:12]} {run.info.run_name:10} {run.info.status} rmse={rmse:.4f}")

# output_format="list": Run objects, as MLflow's, no pandas needed (the default is
# MLflow's DataFrame)
best = gittrack.search_runs(
    filter_string="params.epochs = '20'",
    order_by=["metrics.rmse ASC"],
    max_results=1,
    output_format="list",
)
print("best run:", best[0].info.run_id[:12], best[0].data.params["alpha"])
