"""examples/models_example.py runs end to end (train, log, register, serve, query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck, git, run_example

pytest.importorskip("sklearn")


def test_models_example_runs(repo: Path) -> None:
    out = run_example("models_example.py", repo)
    assert "as iris-like version 1" in out
    assert "predictions: [1, 0]" in out
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/")
    assert refs.split() == [
        "refs/gittrack/models/iris-like/aliases/prod",
        "refs/gittrack/models/iris-like/versions/1",
    ]
    fsck(repo)


def test_the_models_guide_runs_as_written(repo: Path) -> None:
    """docs/models.md: its Python example runs as shown, and each curl request of its
    serving example gets the answer printed below it."""
    import json
    import re
    import subprocess
    import sys

    from test_models_serve import request, serving

    guide = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", guide, re.S)
    assert snippet is not None
    proc = subprocess.run(
        [sys.executable, "-c", snippet.group(1)], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    console = guide.split("```console\n", 1)[1].split("```", 1)[0]
    curls = [b for b in re.split(r"^(?=\$ )", console, flags=re.M) if b.startswith("$ curl")]
    assert len(curls) == 3
    with serving("models:/churn@prod", cwd=repo) as (port, _pid):
        for block in curls:
            command, answer = block.strip().rsplit("\n", 1)
            ctype = re.search(r"-H 'Content-Type: ([^']+)'", command)
            json_body = re.search(r"-d '(.*)'", command)
            csv_body = re.search(r"--data-binary \$'(.*)'", command)
            assert ctype is not None, command
            if json_body is not None:
                body = json_body.group(1).encode()
            else:
                assert csv_body is not None, command
                body = csv_body.group(1).replace("\\n", "\n").encode()
            _status, got = request(port, "POST", "/invocations", body, ctype.group(1))
            assert got == json.loads(answer), (command, got)
