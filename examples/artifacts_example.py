"""Artifacts: log files from a run, read them back verified, see dedup at work.

Run it inside any git repository (or anywhere: runs go to ./.gittrack-runs). It writes a
small "model" under ./artifacts-demo/, logs it from two runs (stored once), and downloads
it again. Then try: gittrack artifacts ls <run> -r, gittrack artifacts verify, gittrack gc.
"""

from __future__ import annotations

import os
from pathlib import Path

import gittrack
from gittrack.artifacts.client_api import artifacts_of

demo = Path("artifacts-demo")
demo.mkdir(exist_ok=True)
(demo / "model.bin").write_bytes(os.urandom(256 * 1024))  # large: goes to the object cache
(demo / "config.yaml").write_text("alpha: 0.5\n")  # small: rides inside the run commit

run_ids = []
for name in ("first", "second"):
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_artifacts(str(demo), artifact_path="model")
        gittrack.log_dict({"name": name, "alpha": 0.5}, "summary.json")
        gittrack.log_text(f"trained {name}\n", "notes/log.txt")
    run_ids.append(run.info.run_id)

for info in gittrack.list_artifacts(run_ids[0]):
    print(f"{info.path:<20} {'dir' if info.is_dir else info.file_size}")

local = gittrack.download_artifacts(artifact_uri=f"runs:/{run_ids[1]}/model")
same = Path(local, "model.bin").read_bytes() == (demo / "model.bin").read_bytes()
print(f"downloaded to {local}; identical: {same}")
# Content-addressed: both runs' model.bin name the same object of the local cache.
store = artifacts_of(gittrack.Client().store)
listed = [e for rid in run_ids for e in store.listing(rid, recursive=True)]
cached = {e.sha256 for e in listed if e.stored == "cache"}
print(f"objects in the cache: {len(cached)} (two runs, one model)")
