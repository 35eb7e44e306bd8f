"""The pieces of a migration that need no MLflow: metric lines, one-commit run writes,
where an export may write."""

from __future__ import annotations

import math
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git

import gittrack
from gittrack import format as fmt
from gittrack.migrate.mlflow_files import parse_metric_lines
from gittrack.migrate.source import epoch_ms
from gittrack.session import open_repository
from gittrack.writer import MetricHistory, write_complete_run


def test_metric_lines_of_every_form() -> None:
    fast, bad = parse_metric_lines("k", b"10 0.5 0\n11 nan 1\n12 -inf 2\n")
    assert bad == 0 and list(fast.steps) == [0, 1, 2] and list(fast.timestamps) == [10, 11, 12]
    assert fast.values[0] == 0.5 and math.isnan(fast.values[1]) and fast.values[2] == -math.inf
    # Legacy two-field lines mean step 0; five fields carry a dataset; junk is counted.
    mixed, bad = parse_metric_lines("k", b"10 1.5\n11 2.5 3 train abc123\n12 x 1\n13\n14 3.5 4")
    assert (list(mixed.timestamps), list(mixed.steps), list(mixed.values)) == (
        [10, 11, 14],
        [0, 3, 4],
        [1.5, 2.5, 3.5],
    )
    assert bad == 2


def test_a_recorded_time_is_taken_only_as_whole_epoch_milliseconds() -> None:
    """A deletion time another tool wrote wrongly leaves the run undated, never fails it."""
    assert epoch_ms(1_796_084_570_035) == 1_796_084_570_035
    for junk in (None, "1796084570035", 1.5e12, True, [1]):
        assert epoch_ms(junk) is None, junk


def test_complete_run_written_once_and_unchanged_rewrite_moves_nothing(repo: Path) -> None:
    runs = open_repository(create=False)
    record = fmt.RunRecord(
        run_id="a" * 32,
        name="old",
        experiment="e",
        status="FINISHED",
        start_time=1000,
        end_time=2000,
        params={"lr": "0.1"},
    )
    history = MetricHistory("loss", steps=[0, 1, 1], timestamps=[5, 7, 6], values=[3.0, 2.0, 9.0])
    commit, changed = write_complete_run(runs, record, histories=[history])
    assert changed
    loaded = runs.load("a" * 32)
    summary = loaded.record.metrics["loss"]
    assert (summary.value, summary.step, summary.timestamp, summary.count) == (2.0, 1, 7, 3)
    assert loaded.record.start_time == 1000 and loaded.record.end_time == 2000
    objects = git(repo, "count-objects")
    again, changed = write_complete_run(runs, record, histories=[history], expected=commit)
    assert (again, changed) == (commit, False)
    assert git(repo, "count-objects") == objects  # not even a dangling commit
    record.tags["new"] = "tag"
    third, changed = write_complete_run(runs, record, histories=[history], expected=commit)
    assert changed and third != commit and runs.run_commit("a" * 32) == third
    fsck(repo)


@pytest.mark.parametrize("command", ["mlflow", "parquet"])
def test_export_to_a_uri_is_refused_and_a_file_uri_is_its_path(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`export mlflow sqlite:///x.db` reported success after writing a folder named
    'sqlite:' into the working directory."""
    with gittrack.start_run():
        gittrack.log_metric("m", 1.0)
    for uri in ("sqlite:///mlflow.db", "http://127.0.0.1:5000", "s3://bucket/lake"):
        err = fails(capsys, "export", command, uri)
        assert f"not to {uri!r}" in err
    assert not any(p.name.endswith(":") for p in repo.iterdir())
    dest = tmp_path / "out α"
    ok("export", command, dest.as_uri())
    assert dest.is_dir() and any(dest.iterdir())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _EmptyMlflow(BaseHTTPRequestHandler):
    """An MLflow server with no experiment and no model."""

    def _answer(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_an_https_server_is_read_with_mlflows_tls_variables(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with its own certificate could not be imported from: MLflow's
    MLFLOW_TRACKING_SERVER_CERT_PATH and MLFLOW_TRACKING_INSECURE_TLS were ignored."""
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    cert, key = _self_signed(tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyMlflow)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        assert "CERTIFICATE_VERIFY_FAILED" in fails(capsys, "import", "mlflow", url)
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
        assert '"runs_found": 0' in ok("import", "mlflow", url, "--format", "json")
        monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
        monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
        assert '"runs_found": 0' in ok("import", "mlflow", url, "--format", "json")
        monkeypatch.delenv("MLFLOW_TRACKING_INSECURE_TLS")
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(tmp_path / "missing.pem"))
        assert "MLFLOW_TRACKING_*_CERT_PATH" in fails(capsys, "import", "mlflow", url)
    finally:
        httpd.shutdown()
        httpd.server_close()
