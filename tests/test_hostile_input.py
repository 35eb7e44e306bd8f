"""Hostile and bad input through the CLI (in-process and real subprocesses) and the API.

Every case must end in one line on stderr (or one :class:`GittrackError`), a non-zero
exit, no traceback, no hang (every subprocess has a timeout) and no write outside the
repository or the requested destination (a sentinel directory is checked).
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fsck, git
from typer.testing import CliRunner

import gittrack
from gittrack.cli import main
from gittrack.cli.app import app
from gittrack.errors import (
    CorruptRunError,
    FilterSyntaxError,
    GittrackError,
    RunNotFoundError,
    ValidationError,
)

GITTRACK = "gittrack"  # the script beside the test interpreter (tests/conftest.py)
runner = CliRunner()
MB10 = "x" * (10 * 2**20)


# -- helpers -------------------------------------------------------------------------------
def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def cli_fails(
    capsys: pytest.CaptureFixture[str], *args: str, code: int = 1, sub: bool = False
) -> str:
    """The command fails the same way in-process (funnel + CliRunner) and, if ``sub``, for
    real: exit ``code``, one line on stderr, no traceback. Returns that line."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == code
    line = _one_line(capsys.readouterr().err)
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    if code == 1:
        assert isinstance(result.exception, GittrackError), result.exception
        assert "\n" not in str(result.exception)
    if sub:
        proc = subprocess.run(
            [GITTRACK, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == code, proc.stderr
        assert _one_line(proc.stderr if code == 1 else proc.stderr.strip().splitlines()[-1])
    if code == 1:
        assert line.startswith("gittrack: error: "), line
    return line


def cli_ok(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GITTRACK, *args], capture_output=True, text=True, timeout=60)


def inproc(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command through the in-process funnel, shaped like a finished subprocess."""
    capsys.readouterr()
    code: object = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = e.code
    cap = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), int(code or 0), cap.out, cap.err)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    """A directory nothing may touch; checked after the test."""
    path = tmp_path / "sentinel"
    path.mkdir()
    (path / "keep.txt").write_text("untouched\n")
    yield path
    assert sorted(p.name for p in path.iterdir()) == ["keep.txt"]
    assert (path / "keep.txt").read_text() == "untouched\n"


@pytest.fixture
def healthy(repo: Path) -> str:
    """A finished run with a param, metrics, a tag and a small artifact."""
    with gittrack.start_run(run_name="healthy") as run:
        gittrack.log_param("lr", 0.1)
        for step in range(3):
            gittrack.log_metric("loss", 1.0 / (step + 1), step=step)
        gittrack.set_tag("team", "a")
        gittrack.log_text("hello\n", "notes/a.txt")
    return run.info.run_id


def _finished_run(name: str) -> str:
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_param("p", 1)
        gittrack.log_metric("m", 1.0)
        gittrack.log_text("payload\n", "notes/a.txt")
    return run.info.run_id


def craft(repo: Path, commit: str, files: dict[str, bytes | None]) -> str:
    """A copy of run ``commit`` with files of ``.gittrack/run/`` replaced (None: removed),
    made with C git plumbing only; returns the new commit."""
    env = dict(os.environ, GIT_INDEX_FILE=str(repo / ".git" / "hostile-index"))

    def g(*args: str, data: bytes | None = None) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=repo, env=env, input=data, capture_output=True, check=True
        )
        return proc.stdout.decode().strip()

    g("read-tree", commit)
    for name, data in files.items():
        path = f".gittrack/run/{name}"
        if data is None:
            g("update-index", "--force-remove", path)
        else:
            sha = g("hash-object", "-w", "--stdin", data=data)
            g("update-index", "--add", "--cacheinfo", f"100644,{sha},{path}")
    tree = g("write-tree")
    parent = g("rev-parse", f"{commit}^")
    new = g("commit-tree", tree, "-p", parent, "-m", "crafted")
    os.unlink(env["GIT_INDEX_FILE"])
    return new


def corrupt(repo: Path, rid: str, files: dict[str, bytes | None]) -> None:
    ref = f"refs/gittrack/runs/{rid}"
    new = craft(repo, git(repo, "rev-parse", ref).strip(), files)
    git(repo, "update-ref", ref, new)


def show_file(repo: Path, rid: str, name: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"refs/gittrack/runs/{rid}:.gittrack/run/{name}"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout


# -- 1. invalid names and keys (API) ------------------------------------------------------
BAD_KEYS = ["", "   ", "../up", "/abs", "a/../b", "a\nb", "k" * 300, "semi;colon", "tab\tkey"]


@pytest.mark.parametrize("kind", ["param", "metric", "tag"])
@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k[:12]))
def test_invalid_keys_are_refused_by_the_api(repo: Path, kind: str, key: str) -> None:
    with gittrack.start_run():
        with pytest.raises(ValidationError) as info:
            if kind == "param":
                gittrack.log_param(key, 1)
            elif kind == "metric":
                gittrack.log_metric(key, 1.0)
            else:
                gittrack.set_tag(key, "v")
        assert "\n" not in str(info.value) and kind in str(info.value)


@pytest.mark.parametrize("value", [None, 3, b"bytes", 1.5], ids=["none", "int", "bytes", "float"])
def test_non_text_keys_are_refused(repo: Path, value: object) -> None:
    with gittrack.start_run(), pytest.raises(ValidationError):
        gittrack.log_param(value, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "  ", "bad\x00name", "new\nline", "n" * 300])
def test_invalid_run_and_experiment_names(repo: Path, name: str) -> None:
    with pytest.raises(ValidationError):
        gittrack.start_run(run_name=name)
    if name:  # an empty experiment means the default one, as in MLflow
        with pytest.raises(ValidationError):
            gittrack.Client().create_run(name)


@pytest.mark.parametrize("value", ["nope", "1.0.0", [1], None], ids=str)
def test_non_numeric_metric_values(repo: Path, value: object) -> None:
    with gittrack.start_run(), pytest.raises(ValidationError):
        gittrack.log_metric("m", value)  # type: ignore[arg-type]


def test_invalid_tag_pairs_through_the_cli(
    healthy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "key=value" in cli_fails(capsys, "tag", healthy, "no-equals-sign")
    line = cli_fails(capsys, "tag", healthy, "bad key;=v", sub=True)
    assert "tag key" in line


# -- 2. huge values ------------------------------------------------------------------------
def test_huge_param_and_tag_values_get_a_clear_error(healthy: str) -> None:
    client = gittrack.Client()
    with pytest.raises(ValidationError, match="characters long"):
        client.log_param(healthy, "huge", MB10)
    with pytest.raises(ValidationError, match="characters long"):
        client.set_tag(healthy, "huge", MB10)
    with pytest.raises(ValidationError):
        gittrack.Client().create_run("e", tags={"huge": MB10})
    client.flush(healthy)
    assert "huge" not in client.get_run(healthy).data.params


def test_huge_tag_through_the_cli(healthy: str, capsys: pytest.CaptureFixture[str]) -> None:
    # 100 kB: the largest single argv string Linux passes is 128 kB.
    line = cli_fails(capsys, "tag", healthy, "big=" + "y" * 100_000, sub=True)
    assert "characters long" in line and len(line) < 300


# -- 3. unicode, NaN and inf round-trip ----------------------------------------------------
def test_unicode_keys_and_values_round_trip(repo: Path) -> None:
    with gittrack.start_run(run_name="运行 ✓", experiment="эксперимент") as run:
        gittrack.log_param("ключ", "значение ✓ 值")
        gittrack.log_metric("μ-loss", 0.5)
        gittrack.set_tag("étiquette", "naïve 🚀")
    got = gittrack.Client().get_run(run.info.run_id)
    assert got.info.run_name == "运行 ✓"
    assert got.data.params == {"ключ": "значение ✓ 值"}
    assert got.data.metrics == {"μ-loss": 0.5}
    assert got.data.tags["étiquette"] == "naïve 🚀"
    proc = cli_ok("show", run.info.run_id)
    assert proc.returncode == 0 and "значение ✓ 值" in proc.stdout and "naïve 🚀" in proc.stdout
    assert cli_ok("list", "--filter", "params.ключ = 'значение ✓ 值'").returncode == 0
    fsck(repo)


def test_nan_and_inf_round_trip(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("nan", float("nan"))
        gittrack.log_metric("inf", float("inf"))
        gittrack.log_metric("ninf", float("-inf"))
        gittrack.log_param("pnan", float("nan"))
        gittrack.log_param("pnan", float("nan"))  # NaN equals NaN: not a conflict
    rid = run.info.run_id
    metrics = gittrack.Client().get_run(rid).data.metrics
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf
    assert metrics["ninf"] == -math.inf
    assert math.isnan(gittrack.Client().get_run(rid).data.typed_params["pnan"])
    assert gittrack.Client().get_run(rid).data.params["pnan"] == "nan"
    assert cli_ok("show", rid, "--format", "json").returncode == 0
    for args in (["show", rid], ["list", "--format", "json"], ["metrics", rid, "-f", "csv"]):
        proc = inproc(capsys, *args)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr


# -- 4. malformed filters ------------------------------------------------------------------
BAD_FILTERS = [
    "metrics.acc >",
    "metrics.acc > 'high'",
    "params.model = ",
    "nosuchtype.x = 1",
    "metrics.acc >> 1",
    "(metrics.acc > 1",
    "params.model = 'unterminated",
    "metrics.acc > 1 and",
    "attributes.status IN ('A'",
    "`unclosed = 1",
]


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_malformed_filters(healthy: str, capsys: pytest.CaptureFixture[str], text: str) -> None:
    line = cli_fails(capsys, "list", "--filter", text, sub=text == BAD_FILTERS[0])
    assert "filter" in line.lower() or "expected" in line.lower() or "'" in line
    with pytest.raises(FilterSyntaxError):
        gittrack.search_runs(filter_string=text)


@pytest.mark.parametrize("order", ["metrics.acc SIDEWAYS", "", "metrics."])
def test_malformed_sort_keys(healthy: str, capsys: pytest.CaptureFixture[str], order: str) -> None:
    cli_fails(capsys, "list", "--sort", order)
    with pytest.raises(FilterSyntaxError):
        gittrack.search_runs(order_by=[order])


# -- 5. unknown and ambiguous run references ----------------------------------------------
@pytest.mark.parametrize("command", ["show", "metrics", "rm", "tag"])
def test_unknown_run_reference(
    healthy: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    args = [command, "nosuchrun"] + (["--yes"] if command == "rm" else [])
    args += ["k=v"] if command == "tag" else []
    line = cli_fails(capsys, *args, sub=command == "show")
    assert "nosuchrun" in line


def test_empty_and_ambiguous_references(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _finished_run("twin"), _finished_run("twin")
    line = cli_fails(capsys, "show", "twin", sub=True)
    assert "ambiguous" in line and "2 runs" in line
    cli_fails(capsys, "show", "")
    cli_fails(capsys, "diff", a, "nosuchrun")
    with pytest.raises(RunNotFoundError):
        gittrack.get_run("ffffffffffff")
    with pytest.raises(GittrackError, match="ambiguous"):
        gittrack.get_run("twin")
    assert {a, b} <= set(gittrack.Client().store.list_runs())


# -- 6. corrupt or truncated files inside a run commit ------------------------------------
BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
).encode()
CORRUPTIONS: dict[str, dict[str, bytes | None]] = {
    "params-truncated": {"params.yaml": b"lr: [0.1, 0.2\n"},
    "params-not-a-dict": {"params.yaml": b"- 1\n- 2\n"},
    "params-yaml-bomb": {"params.yaml": BILLION_LAUGHS},
    "params-python-tag": {"params.yaml": b"x: !!python/object/apply:os.system ['touch pwned']\n"},
    "run-missing": {"run.yaml": None},
    "run-truncated": {"run.yaml": b"format_version: 1\nrun_id: 'abc\n"},
    "run-not-a-dict": {"run.yaml": b"just a string\n"},
    "run-future-version": {"run.yaml": b"format_version: 99\n"},
    "run-binary": {"run.yaml": b"\x00\xff\xfe garbage \x00"},
    "tags-list": {"tags.yaml": b"[1, 2, 3]\n"},
    "artifacts-garbage": {"artifacts.yaml": b"{{{{ not yaml"},
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_run_files(
    healthy: str,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    bad = _finished_run("victim")
    corrupt(repo, bad, CORRUPTIONS[case])
    line = cli_fails(capsys, "show", bad, sub=case in ("params-yaml-bomb", "run-missing"))
    assert bad[:12] in line
    with pytest.raises(CorruptRunError):
        gittrack.Client().get_run(bad)
    # `gittrack list` keeps listing the healthy run, warning about the corrupt one.
    sub = case in ("params-yaml-bomb", "run-missing")
    proc = cli_ok("list", "--format", "json") if sub else inproc(capsys, "list", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert healthy in proc.stdout and "Traceback" not in proc.stderr
    listed = [r["run_id"] for r in gittrack.search_runs(output_format="rows")]
    if case.startswith("artifacts"):  # listing never reads the manifest: the run stays
        assert sorted(listed) == sorted([healthy, bad])
    else:
        # the warning: on stderr for real, in the log records in-process
        warned = proc.stderr if sub else " ".join(r.getMessage() for r in caplog.records)
        assert bad not in proc.stdout and bad[:12] in warned
        assert listed == [healthy]
    assert not (repo / "pwned").exists()


@pytest.mark.parametrize(
    "data", [b"", b"PAR1", b"PAR1" + os.urandom(200) + b"PAR1", b"not parquet at all"]
)
def test_corrupt_metrics_parquet(
    healthy: str, repo: Path, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    bad = _finished_run("victim")
    corrupt(repo, bad, {"metrics.parquet": data})
    line = cli_fails(capsys, "metrics", bad, sub=data == b"PAR1")
    assert bad[:12] in line
    with pytest.raises(CorruptRunError):
        gittrack.Client().get_metric_history(bad, "m")
    assert inproc(capsys, "list").returncode == 0


@pytest.mark.parametrize(
    "manifest",
    [
        b"notes/a.txt: 17\n",
        b"notes/a.txt: {size: -1, sha256: '00', mode: '100644'}\n",
        b"- a\n- b\n",
    ],
)
def test_corrupt_artifact_manifest(
    healthy: str, repo: Path, capsys: pytest.CaptureFixture[str], manifest: bytes, sentinel: Path
) -> None:
    bad = _finished_run("victim")
    corrupt(repo, bad, {"artifacts.yaml": manifest})
    dst = repo.parent / "dst"
    cli_fails(capsys, "artifacts", "get", bad, ".", "-o", str(dst), sub=True)
    cli_fails(capsys, "artifacts", "ls", bad)
    assert not dst.exists() or not any(dst.rglob("*"))


# -- 7. a pulled run whose manifest points outside the destination ------------------------
ESCAPES = {
    "dotdot": "../../sentinel/x",
    "absolute": "/SENTINEL/x",
    "inner-dotdot": "notes/../../../sentinel/x",
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_pulled_manifest_escaping_the_destination(
    tmp_path: Path,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sentinel: Path,
    case: str,
) -> None:
    bad = _finished_run("hostile")
    escape = ESCAPES[case].replace("/SENTINEL", str(sentinel))
    blob = show_file(repo, bad, "artifacts/notes/a.txt")
    manifest = show_file(repo, bad, "artifacts.yaml").replace(
        b"notes/a.txt:", f"'{escape}':".encode()
    )
    assert manifest != show_file(repo, bad, "artifacts.yaml") and blob
    corrupt(repo, bad, {"artifacts.yaml": manifest})
    mine = tmp_path / "mine"
    git(tmp_path, "init", "-q", str(mine))
    monkeypatch.chdir(mine)
    pull = cli_ok("pull", str(repo))  # pulling is allowed: nothing is written from it yet
    assert pull.returncode == 0, pull.stderr
    dst = tmp_path / "dst" / "a" / "b"
    line = cli_fails(capsys, "artifacts", "get", bad, ".", "-o", str(dst), sub=True)
    assert "path" in line
    with pytest.raises(GittrackError):
        gittrack.Client().download_artifacts(bad, "", dst)
    assert not dst.exists() or not any(dst.rglob("*"))


def test_symlink_in_the_destination_leading_outside(
    repo: Path, capsys: pytest.CaptureFixture[str], sentinel: Path
) -> None:
    rid = _finished_run("links")
    dst = repo.parent / "dst"
    dst.mkdir()
    (dst / "notes").symlink_to(sentinel)  # dst/notes/a.txt would land in the sentinel
    line = cli_fails(capsys, "artifacts", "get", rid, ".", "-o", str(dst), sub=True)
    assert "symlink" in line or "outside" in line
    with pytest.raises(GittrackError):
        gittrack.Client().download_artifacts(rid, "", dst)


# -- 8. a remote that disconnects or talks garbage ----------------------------------------
class BadServer(threading.Thread):
    """Accepts TCP connections on 127.0.0.1 and closes them (or sends garbage first)."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(daemon=True)
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(self.reply)
                except OSError:
                    pass


BAD_REMOTES = {
    # (scheme, reply): what the server answers to the first request, then it hangs up
    "git-close": ("git", b""),
    "git-garbage": ("git", b"\x00garbage\xff" * 50),
    "git-half-packet": ("git", b"00a0" + b"1" * 40),
    "http-close": ("http", b""),
    "http-bad-status-line": ("http", b"\x00garbage\xff" * 50),
    "http-500": ("http", b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_REMOTES))
@pytest.mark.parametrize("command", ["push", "pull"])
def test_remote_that_disconnects_or_sends_garbage(
    healthy: str, repo: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    scheme, reply = BAD_REMOTES[case]
    server = BadServer(reply)
    server.start()
    before = git(repo, "for-each-ref")
    try:
        url = f"{scheme}://127.0.0.1:{server.port}/repo.git"
        line = cli_fails(capsys, command, url, sub=case.endswith("close"))
        assert "127.0.0.1" in line
        assert server.connections >= 1
    finally:
        server.sock.close()
    assert git(repo, "for-each-ref") == before
    assert gittrack.Client().get_run(healthy).info.status == "FINISHED"
    fsck(repo)


# -- 9. non-gittrack refs under the namespace ---------------------------------------------
def test_foreign_refs_under_the_run_namespace(
    healthy: str, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"blob", capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    plain_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex
    git(repo, "update-ref", "refs/gittrack/runs/not-a-run", head)
    git(repo, "update-ref", f"refs/gittrack/runs/{plain_id}", head)  # a commit, not a run
    git(repo, "update-ref", f"refs/gittrack/runs/{blob_id}", blob)
    proc = cli_ok("list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert healthy in proc.stdout and plain_id not in proc.stdout and blob_id not in proc.stdout
    assert "Traceback" not in proc.stderr
    for bad in (plain_id, blob_id):
        line = cli_fails(capsys, "show", bad, sub=bad == blob_id)
        assert bad[:12] in line
        with pytest.raises(GittrackError):
            gittrack.Client().get_run(bad)
    cli_fails(capsys, "show", "not-a-run")
    assert inproc(capsys, "recover", "--dry-run").returncode == 0
    assert inproc(capsys, "experiments").returncode == 0
    assert [r["run_id"] for r in gittrack.search_runs(output_format="rows")] == [healthy]


# -- 10. hostile project files, secrets, cache permissions --------------------------------
# Anchors in one entry point's defaults, expanded by rendering another's command: with
# yaml.safe_load this took 13.7 s and ended in MemoryError under a 3 GB limit.
PROJECT_BOMB = "\n".join(
    [
        "entry_points:",
        "  bomb:",
        "    command: 'true'",
        "    parameters:",
        '      a: {default: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]}',
        *(
            f"      {c}: {{default: &{c} [{','.join(['*' + p] * 9)}]}}"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "  main:",
        "    command: 'echo {p}'",
        "    parameters:",
        "      p: {type: string, default: *i}",
        "",
    ]
)


@pytest.mark.parametrize(
    "text",
    [
        PROJECT_BOMB,
        "name: !!python/object/apply:os.system ['touch pwned']\nentry_points: {}\n",
        "entry_points: [unclosed\n",
    ],
    ids=["yaml-bomb", "python-tag", "truncated"],
)
def test_hostile_project_file(repo: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    (repo / "MLproject").write_text(text)
    line = cli_fails(capsys, "run", "-e", "main", sub=text == PROJECT_BOMB)
    assert "MLproject" in line
    assert not (repo / "pwned").exists()
    assert gittrack.Client().store.list_runs() == {}


def test_credentials_are_not_recorded(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SEKRET-ENV")
    proc = cli_ok(
        "run",
        "--",
        "python",
        "-c",
        "print('hi')",
        "--api-key=SEKRET-OPT",
        "password=SEKRET-KV",
        "https://bob:SEKRET-URL@example.com/data",
    )
    assert proc.returncode == 0, proc.stderr
    (rid,) = gittrack.Client().store.list_runs()
    ref = f"refs/gittrack/runs/{rid}"
    dump = git(repo, "grep", "-I", "-c", "SEKRET", ref, "--", ".gittrack/run", check=False)
    assert dump == "", dump
    assert "SEKRET" not in git(repo, "log", "-1", "--format=%B", ref)
    # A URL with credentials given to push: not in the error, the config or ref names.
    server = BadServer(b"")
    server.start()
    try:
        url = f"http://bob:SEKRET-PUSH@127.0.0.1:{server.port}/r.git"
        line = cli_fails(capsys, "push", url)
    finally:
        server.sock.close()
    assert "SEKRET" not in line
    assert "SEKRET" not in (repo / ".git" / "config").read_text()
    assert "SEKRET" not in git(repo, "for-each-ref")


def test_hash_cache_is_private(repo: Path) -> None:
    (repo / "data.csv").write_text("a,b\n1,2\n")
    with gittrack.start_run():
        gittrack.log_input("data.csv")
    cache = repo / ".git" / "gittrack" / "hashcache.sqlite"
    assert cache.exists() and cache.stat().st_mode & 0o777 == 0o600


def test_tracking_refs_of_a_url_remote_do_not_depend_on_its_credentials() -> None:
    from gittrack.store.transport import Remote

    plain = Remote(url="https://example.com/team/runs.git")
    with_password = Remote(url="https://bob:SEKRET@example.com/team/runs.git")
    assert with_password.key == plain.key
    assert "SEKRET" not in with_password.tracking_prefix + with_password.display
