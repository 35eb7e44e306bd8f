"""Data lineage: record what data went into each run, then ask which runs used it.

Run it inside any git repository (or anywhere: runs go to ./.gittrack-runs). It writes a
small dataset under ./lineage-demo/, trains twice (the second time on changed data),
and shows which inputs changed. Then try: gittrack inputs <run>,
gittrack runs-using lineage-demo/train.csv.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pyarrow as pa

import gittrack
from gittrack.lineage import diff_inputs, get_inputs, runs_using

data = Path("lineage-demo")
data.mkdir(exist_ok=True)
rng = random.Random(0)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y"])
        for _ in range(rows):
            x = rng.random()
            writer.writerow([f"{x:.6f}", f"{3 * x + rng.gauss(0, 0.1):.6f}"])


def train(run_name: str) -> str:
    with gittrack.start_run(run_name=run_name) as run:
        gittrack.log_input(data / "train.csv", name="train", context="training")
        gittrack.log_input(data / "valid.csv", name="valid", context="validation", keep=True)
        with (data / "train.csv").open() as f:
            rows = list(csv.DictReader(f))
        xs = [float(r["x"]) for r in rows]
        ys = [float(r["y"]) for r in rows]
        slope = sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)
        features = pa.table({"x": xs, "x2": [x * x for x in xs]})
        gittrack.log_input(features, name="features", context="training")
        gittrack.log_metric("slope", slope)
        print(f"{run.info.run_id[:12]} {run_name}: slope={slope:.3f}")
        return run.info.run_id


write_csv(data / "train.csv", 200)
write_csv(data / "valid.csv", 50)
first = train("lineage-first")
write_csv(data / "train.csv", 300)  # new training data, same validation data
second = train("lineage-second")

for change in diff_inputs(get_inputs(first), get_inputs(second)):
    print(f"input {change['name']}: {change['change']}")
users = runs_using(data / "valid.csv")
print("runs that used valid.csv:", ", ".join(sorted(r["name"] for r in users)))
