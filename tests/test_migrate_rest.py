"""``gittrack import mlflow http://...``: a real ``mlflow server`` (sqlite, artifacts
proxied) read through MLflow's REST API, every field compared with MLflow's client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git
from mlflow_peer import (
    MAKE_REGISTRY,
    MLFLOW,
    READ_STORE,
    check_import,
    differences,
    mlflow_server,
    registry_as_compared,
    run_mlflow,
)

from gittrack.migrate.importer import import_mlflow
from gittrack.session import open_repository

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A running MLflow server holding the MAKE_REGISTRY runs and models, and what its
    client reads (``all``: experiments and runs; ``registry``)."""
    base = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(base) as url:
        yield url, run_mlflow(MAKE_REGISTRY, url, str(base))


def test_import_from_a_server_carries_every_field(
    repo: Path, server: tuple[str, dict[str, Any]]
) -> None:
    url, reference = server
    summary = json.loads(ok("import", "mlflow", url, "--format", "json"))
    check_import(repo, summary, reference["all"])
    again = json.loads(ok("import", "mlflow", url, "--format", "json"))
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, summary["new"])
    fsck(repo)


def test_a_server_with_a_registry_comes_back_as_a_file_store(
    repo: Path, tmp_path: Path, server: tuple[str, dict[str, Any]]
) -> None:
    """Imported over REST (logged models and registry too), then exported: MLflow reads
    the export as it read the server."""
    url, reference = server
    summary = json.loads(ok("import", "mlflow", url, "--format", "json"))
    assert summary["skipped"] == []
    assert (summary["logged_models"], summary["registered_models"]) == (2, 2)
    assert summary["model_versions"] == 2
    dest = tmp_path / "out"
    ok("export", "mlflow", str(dest))
    back = run_mlflow(READ_STORE, str(dest))
    # MLflow's two stores say some things differently: the server answers "" where the
    # file store has None, and its version search leaves out aliases (the model's own
    # aliases, compared too, name the versions).
    reference = json.loads(json.dumps(reference))
    registry_as_compared((back, reference))
    wrong = differences(back, reference)
    assert not wrong, "\n".join(wrong)


class _Hostile(BaseHTTPRequestHandler):
    """An "MLflow server" that lists an artifact path escaping the run."""

    run_id = "ab" * 16

    def do_POST(self) -> None:
        if "experiments/search" in self.path:
            body = {"experiments": [{"experiment_id": "0", "name": "Default"}]}
        else:
            info = {
                "run_id": self.run_id,
                "status": "FINISHED",
                "start_time": 1,
                "lifecycle_stage": "active",
                "run_name": "bad",
            }
            body = {"runs": [{"info": info, "data": {}}]}
        self._json(body)

    def do_GET(self) -> None:
        self._json({"files": [{"path": "../../etc/passwd", "is_dir": False}]})

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_hostile_server_paths_refuse_the_run_and_bad_urls_are_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        summary = import_mlflow(url, runs=open_repository(create=False))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert summary.new == 0
    assert "'..'" in dict(summary.skipped)[f"run {_Hostile.run_id}"]
    assert git(repo, "for-each-ref", "refs/gittrack/runs/") == ""
    port = httpd.server_address[1]  # closed now: nothing listens there
    err = fails(capsys, "import", "mlflow", f"http://127.0.0.1:{port}")
    assert "cannot reach MLflow server" in err
