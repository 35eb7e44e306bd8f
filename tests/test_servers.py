"""The test servers work with C git / boto3 as clients and leave no process behind."""

from __future__ import annotations

import gzip
import http.client
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from servers import (
    GitDaemon,
    HttpGitServer,
    S3Server,
    ServerStartError,
    _Server,
    free_port,
    pid_alive,
)


@pytest.fixture
def reaped() -> Iterator[list[int]]:
    """Pids appended here must be gone once the test's other fixtures are torn down.

    Request it *before* the server fixture: function-scoped fixtures are finalised in
    reverse order of setup, so this teardown runs after the server fixture's.
    """
    pids: list[int] = []
    yield pids
    alive = [pid for pid in pids if pid_alive(pid)]
    assert not alive, f"server processes still alive after fixture teardown: {alive}"


@pytest.fixture
def no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """C git must fail instead of asking for credentials."""
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    for var in ("GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.delenv(var, raising=False)


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def push_clone_roundtrip(repo: Path, url: str, tmp_path: Path) -> None:
    """Push main + a custom ref namespace to ``url``, then clone and ls-remote it back."""
    commit = head(repo)
    git(repo, "update-ref", "refs/gittrack/runs/run-1", commit)
    git(repo, "push", "-q", url, "main")
    git(repo, "push", "-q", url, "refs/gittrack/*:refs/gittrack/*")

    clone = tmp_path / f"clone-{url.split(':', 1)[0]}"
    git(tmp_path, "clone", "-q", url, str(clone))
    assert head(clone) == commit
    assert (clone / "train.py").read_text() == "print('training')\n"

    refs = dict(reversed(line.split("\t")) for line in git(repo, "ls-remote", url).splitlines())
    assert refs["refs/heads/main"] == commit
    assert refs["refs/gittrack/runs/run-1"] == commit
    # A fetch with an explicit refspec brings the namespace back.
    git(clone, "fetch", "-q", url, "refs/gittrack/*:refs/gittrack/*")
    assert git(clone, "rev-parse", "refs/gittrack/runs/run-1").strip() == commit


# -- git daemon ---------------------------------------------------------------------------------


def test_git_daemon_push_clone_ls_remote(
    reaped: list[int], repo: Path, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    reaped.append(git_daemon.pid)
    assert git_daemon.base.is_dir() and git_daemon.base.is_relative_to(tmp_path)
    bare = git_daemon.init_bare("remote.git")
    url = git_daemon.url_for("remote.git")
    assert url == f"git://127.0.0.1:{git_daemon.port}/remote.git"

    push_clone_roundtrip(repo, url, tmp_path)
    assert git(bare, "rev-parse", "refs/gittrack/runs/run-1").strip() == head(repo)


def test_git_daemon_context_manager_stops_by_pid(tmp_path: Path) -> None:
    with GitDaemon(tmp_path / "served") as daemon:
        pid = daemon.pid
        assert pid_alive(pid)
        daemon.init_bare("x.git")
        assert run_git(tmp_path, "ls-remote", daemon.url_for("x.git")).returncode == 0
    assert not pid_alive(pid)
    daemon.stop()  # idempotent


# -- smart HTTP ---------------------------------------------------------------------------------


def test_http_push_clone_ls_remote(
    reaped: list[int], repo: Path, http_git_server: HttpGitServer, tmp_path: Path
) -> None:
    reaped.append(http_git_server.pid)
    bare = http_git_server.init_bare("remote.git")
    url = http_git_server.url_for("remote.git")
    assert url == f"http://127.0.0.1:{http_git_server.port}/remote.git"

    push_clone_roundtrip(repo, url, tmp_path)
    assert git(bare, "rev-parse", "refs/heads/main").strip() == head(repo)


def test_http_protocol_v0_and_v2(repo: Path, http_git_server: HttpGitServer) -> None:
    http_git_server.init_bare("r.git")
    url = http_git_server.url_for("r.git")
    git(repo, "push", "-q", url, "main")
    for version in ("0", "1", "2"):
        out = git(repo, "-c", f"protocol.version={version}", "ls-remote", url, "refs/heads/*")
        assert out.split() == [head(repo), "refs/heads/main"], version


def curl_trace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    """Make C git log its HTTP headers (not bodies) to the returned file."""
    trace = tmp_path / f"{name}.trace"
    monkeypatch.setenv("GIT_TRACE_CURL", str(trace))
    monkeypatch.setenv("GIT_TRACE_CURL_NO_DATA", "1")
    return trace


def test_http_large_push_is_chunked(
    repo: Path, http_git_server: HttpGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push larger than http.postBuffer goes out with Transfer-Encoding: chunked."""
    http_git_server.init_bare("big.git")
    url = http_git_server.url_for("big.git")
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    git(repo, "add", "blob.bin")
    git(repo, "commit", "-q", "-m", "big")
    trace = curl_trace(monkeypatch, tmp_path, "push")
    pushed = run_git(repo, "-c", "http.postBuffer=65536", "push", url, "main")
    assert pushed.returncode == 0, pushed.stderr + http_git_server.output()
    assert "Transfer-Encoding: chunked" in trace.read_text()
    monkeypatch.delenv("GIT_TRACE_CURL")

    clone = tmp_path / "big-clone"
    git(tmp_path, "clone", "-q", url, str(clone))
    assert (clone / "blob.bin").read_bytes() == (repo / "blob.bin").read_bytes()


@pytest.mark.parametrize("version", ["0", "2"])
def test_http_fetch_with_gzipped_negotiation(
    version: str,
    repo: Path,
    http_git_server: HttpGitServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """C git gzips upload-pack requests over 1 KiB: here, 30 "want" lines."""
    http_git_server.init_bare("r.git")
    url = http_git_server.url_for("r.git")
    base = head(repo)
    stream = "".join(
        f"commit refs/heads/b{i}\ncommitter T <t@example.com> 1700000000 +0000\n"
        f"data {len(str(i))}\n{i}\nfrom {base}\n\n"
        for i in range(30)
    )
    imported = subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input=stream, text=True, check=False
    )
    assert imported.returncode == 0
    git(repo, "push", "-q", url, "refs/heads/*:refs/heads/*")

    clone = tmp_path / "clone"
    git(tmp_path, "init", "-q", str(clone))
    trace = curl_trace(monkeypatch, tmp_path, "fetch")
    git(clone, "-c", f"protocol.version={version}", "fetch", "-q", url, "+refs/heads/*:refs/up/*")
    assert "Content-Encoding: gzip" in trace.read_text()
    assert git(clone, "rev-parse", "refs/up/b29^").strip() == base


def test_http_gzip_request_body(http_git_server: HttpGitServer, repo: Path) -> None:
    """A gzip-encoded POST body is passed to http-backend with HTTP_CONTENT_ENCODING."""
    http_git_server.init_bare("g.git")
    git(repo, "push", "-q", http_git_server.url_for("g.git"), "main")
    request = b"0014command=ls-refs\n0000"  # protocol v2 ls-refs, no arguments
    conn = http.client.HTTPConnection("127.0.0.1", http_git_server.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/g.git/git-upload-pack",
            body=gzip.compress(request),
            headers={
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
                "Git-Protocol": "version=2",
            },
        )
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    assert resp.getheader("Content-Type") == "application/x-git-upload-pack-result"
    assert f"{head(repo)} refs/heads/main".encode() in body


def test_http_missing_repo_is_404(http_git_server: HttpGitServer, tmp_path: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_git_server.port, timeout=10)
    try:
        conn.request("GET", "/nope.git/info/refs?service=git-upload-pack")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert resp.status == 404  # the CGI "Status:" header is honoured
    assert run_git(tmp_path, "ls-remote", http_git_server.url_for("nope.git")).returncode != 0


def test_http_basic_auth(
    reaped: list[int], no_prompt: None, repo: Path, http_git_server: HttpGitServer, tmp_path: Path
) -> None:
    reaped.append(http_git_server.pid)
    http_git_server.init_bare("private.git")
    http_git_server.set_auth("alice", "s3cret")

    for url in (
        http_git_server.url_for("private.git"),  # no credentials
        http_git_server.url_for("private.git", "alice", "wrong"),
        http_git_server.url_for("private.git", "mallory", "s3cret"),
    ):
        denied = run_git(repo, "push", url, "main")
        assert denied.returncode != 0
        assert (
            "401" in denied.stderr
            or "Authentication failed" in denied.stderr
            or ("could not read Username" in denied.stderr)
        ), denied.stderr
    assert "401" in http_git_server.output()

    good = http_git_server.url_for("private.git", "alice", "s3cret")
    push_clone_roundtrip(repo, good, tmp_path)

    http_git_server.clear_auth()
    assert run_git(repo, "ls-remote", http_git_server.url_for("private.git")).returncode == 0


def test_http_context_manager_with_auth_stops_by_pid(
    no_prompt: None, repo: Path, tmp_path: Path
) -> None:
    with HttpGitServer(tmp_path / "served", auth=("bob", "pw")) as server:
        pid = server.pid
        server.init_bare("x.git")
        assert run_git(repo, "ls-remote", server.url_for("x.git", "bob", "nope")).returncode
        assert not run_git(repo, "ls-remote", server.url_for("x.git", "bob", "pw")).returncode
    assert not pid_alive(pid)


def test_same_base_over_both_protocols(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "shared"
    with GitDaemon(base) as daemon, HttpGitServer(base) as web:
        daemon.init_bare("r.git")
        git(repo, "push", "-q", daemon.url_for("r.git"), "main")
        assert git(repo, "ls-remote", web.url_for("r.git"), "refs/heads/main").split()[0] == (
            head(repo)
        )
        pids = [daemon.pid, web.pid]
    assert not any(pid_alive(pid) for pid in pids)


# -- S3 -----------------------------------------------------------------------------------------


def test_s3_put_get(reaped: list[int], s3_server: S3Server) -> None:
    import boto3

    reaped.append(s3_server.pid)
    assert s3_server.endpoint_url == f"http://127.0.0.1:{s3_server.port}"
    # Uses the dummy credentials the fixture put in the environment.
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    assert s3.list_buckets()["Buckets"] == []  # the fixture creates nothing
    s3.create_bucket(Bucket="gittrack-artifacts")
    s3.put_object(Bucket="gittrack-artifacts", Key="runs/1/model.bin", Body=b"\x00weights\xff")
    obj = s3.get_object(Bucket="gittrack-artifacts", Key="runs/1/model.bin")
    with obj["Body"] as body:
        assert body.read() == b"\x00weights\xff"
    listed = s3_server.client().list_objects_v2(Bucket="gittrack-artifacts")
    assert [o["Key"] for o in listed["Contents"]] == ["runs/1/model.bin"]


# -- helpers ------------------------------------------------------------------------------------


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


class _NeverReady(_Server):
    name = "never-ready server"

    def _command(self, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.stderr.write('boom: no listener\\n')"]


def test_start_failure_reports_output_and_leaves_nothing() -> None:
    server = _NeverReady()
    with pytest.raises(ServerStartError, match="boom: no listener"):
        server.start()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.pid


class _IgnoresSigterm(_Server):
    name = "stubborn server"
    stop_timeout = 0.5

    def _command(self, port: int) -> list[str]:
        code = (
            "import signal, socket, sys\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"s = socket.create_server(('127.0.0.1', {port}))\n"
            "while True: s.accept()[0].close()\n"
        )
        return [sys.executable, "-c", code]


def test_stop_kills_a_server_that_ignores_sigterm() -> None:
    with _IgnoresSigterm() as server:
        pid = server.pid
    assert not pid_alive(pid)
