"""Runs one repetition of one workload in a fresh process and writes its measures.

Invoked by the harness as ``python -c <bootstrap> SPEC_JSON RESULT_PATH`` with the
interpreter of the tool under test (gittrack's, or a peer's virtual environment), so
this module and what it imports at the top use the standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

from benchmarks.common import Context, Recorder


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    result_path = Path(argv[1])
    module_name, func_name = spec["func"].split(":")
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    ctx = Context(
        workdir=workdir,
        args=spec.get("args", {}),
        fixture=Path(spec["fixture"]) if spec.get("fixture") else None,
        rep=int(spec.get("rep", 0)),
    )
    rec = Recorder()
    error = None
    try:
        func = getattr(importlib.import_module(f"benchmarks.{module_name}"), func_name)
        func(ctx, rec)
    except Exception as exc:  # a failing tool is reported, never fatal to the suite
        error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        traceback.print_exc()
    result_path.write_text(
        json.dumps(
            {"measures": rec.measures, "notes": rec.notes, "errors": rec.errors, "error": error}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
