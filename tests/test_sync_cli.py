"""``gittrack push|pull|bundle``: in-process (CliRunner, the error funnel) and real processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import SCRIPTS, fsck, git
from servers import free_port
from test_sync import fresh_repo, make_runs, refs_of
from typer.testing import CliRunner

from gittrack.cli import main
from gittrack.cli.app import app
from gittrack.client import Client

runner = CliRunner()


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The real entry point in-process (so errors go through the funnel)."""
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def gittrack(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script (beside this interpreter) in a real process."""
    return subprocess.run(
        [str(SCRIPTS / "gittrack"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_push_and_pull_in_process(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    make_runs(repo, 2)
    result = runner.invoke(app, ["push", str(bare_remote)])
    assert result.exit_code == 0, result.output
    assert "pushed 2 new" in result.stdout
    result = runner.invoke(app, ["push", str(bare_remote)])
    assert "up to date" in result.stdout
    other = fresh_repo(tmp_path, "other")
    os.chdir(other)
    result = runner.invoke(app, ["pull", str(bare_remote)])
    assert result.exit_code == 0, result.output
    assert "2 new" in result.stdout


def test_push_chosen_runs(repo: Path, bare_remote: Path) -> None:
    ids = make_runs(repo, 2)
    result = runner.invoke(app, ["push", str(bare_remote), ids[1][:8]])
    assert result.exit_code == 0, result.output
    assert "pushed 1 new" in result.stdout
    assert ids[0] not in refs_of(bare_remote)


def changed_on_both_sides(
    repo: Path, bare_remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: str
) -> tuple[str, Path]:
    """One run shared by ``repo`` and a clone through origin, then changed in both by
    ``log`` ("tag" or "param", different values), and ``repo``'s change pushed; the
    clone is the current directory. Returns (run id, clone)."""
    (rid,) = make_runs(repo, 1)
    git(repo, "remote", "add", "origin", str(bare_remote))
    assert run_main(["push"], capsys)[0] == 0
    other = fresh_repo(tmp_path, "other")
    git(other, "remote", "add", "origin", str(bare_remote))
    os.chdir(other)
    assert run_main(["pull"], capsys)[0] == 0
    for where, value in ((repo, "1"), (other, "2")):
        if log == "tag":
            Client(where).set_tag(rid, f"t{value}", value)
        else:
            Client(where).log_param(rid, "opt", value)
        Client(where).flush()
    os.chdir(repo)
    assert run_main(["push"], capsys)[0] == 0
    os.chdir(other)
    return rid, other


def test_rejected_push_is_one_line_per_run_and_exit_1(
    repo: Path, bare_remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid, _ = changed_on_both_sides(repo, bare_remote, tmp_path, capsys, "tag")
    remote_before = refs_of(bare_remote)
    code, _, err = run_main(["push"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and rid in lines[0] and "gittrack pull" in lines[0]
    assert refs_of(bare_remote) == remote_before
    code, out, _ = run_main(["pull"], capsys)
    assert code == 0 and f"merged run {rid}" in out
    assert run_main(["push"], capsys)[0] == 0


def test_conflict_is_reported(
    repo: Path, bare_remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rid,) = make_runs(repo, 1)
    assert run_main(["push", str(bare_remote)], capsys)[0] == 0
    other = fresh_repo(tmp_path, "other")
    os.chdir(other)
    assert run_main(["pull", str(bare_remote)], capsys)[0] == 0
    Client(repo).log_param(rid, "p", 1)
    Client(repo).flush()
    Client(other).log_param(rid, "p", 2)
    Client(other).flush()
    os.chdir(repo)
    assert run_main(["push", str(bare_remote)], capsys)[0] == 0
    os.chdir(other)
    code, out, err = run_main(["pull", str(bare_remote)], capsys)
    assert code == 1 and "1 conflict(s)" in out
    assert err.startswith(f"gittrack: error: conflict: run {rid} param 'p' differs")
    assert err.count("\n") == 1 and f"refs/gittrack-conflicts/runs/{rid}/" in err


def shared_then_unmergeable(repo: Path, other: Path, new: int) -> str:
    """One run in ``repo`` and ``other`` with a param of different values in each, and
    ``new`` more runs made in ``repo`` only. Returns the shared run's id."""
    (rid,) = make_runs(repo, 1)
    git(repo, "bundle", "create", "-q", str(other / "seed.bundle"), f"refs/gittrack/runs/{rid}")
    git(other, "fetch", "-q", str(other / "seed.bundle"), "refs/gittrack/*:refs/gittrack/*")
    for where, value in ((repo, "x"), (other, "y")):
        Client(where).log_param(rid, "opt", value)
        Client(where).flush()
    make_runs(repo, new, prefix="n")
    return rid


@pytest.mark.parametrize("how", ["pull", "unbundle"])
def test_an_unmergeable_run_fails_the_command_after_everything_else_is_in(
    repo: Path, bare_remote: Path, tmp_path: Path, how: str
) -> None:
    other = fresh_repo(tmp_path, "other")
    rid = shared_then_unmergeable(repo, other, 2)
    theirs = git(repo, "rev-parse", f"refs/gittrack/runs/{rid}").strip()
    if how == "pull":
        assert gittrack(repo, "push", str(bare_remote)).returncode == 0
        proc = gittrack(other, "pull", str(bare_remote))
    else:
        assert gittrack(repo, "bundle", "create", str(tmp_path / "all.bundle")).returncode == 0
        proc = gittrack(other, "bundle", "unbundle", str(tmp_path / "all.bundle"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 new" in proc.stdout and "1 conflict(s)" in proc.stdout
    assert proc.stderr == (
        f"gittrack: error: conflict: run {rid} param 'opt' differs ('y' here, 'x' there); "
        f"kept the local version, the other is at refs/gittrack-conflicts/runs/{rid}/{theirs} "
        "(docs/sync.md, 'Unmergeable': keep one version, delete that ref)\n"
    )
    # Nothing lost: every run of the remote is here, the other version is kept.
    listed = gittrack(other, "list", "--format", "json")
    assert sorted(r["run_id"] for r in json.loads(listed.stdout)) == sorted(
        r["run_id"] for r in json.loads(gittrack(repo, "list", "--format", "json").stdout)
    )
    assert Client(other).get_run(rid).data.params["opt"] == "y"
    assert git(other, "rev-parse", f"refs/gittrack-conflicts/runs/{rid}/{theirs}").strip() == theirs
    fsck(other)


def test_several_conflicts_are_one_stderr_line_each(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    other = fresh_repo(tmp_path, "other")
    rids = [shared_then_unmergeable(repo, other, 0) for _ in range(2)]
    assert gittrack(repo, "push", str(bare_remote)).returncode == 0
    proc = gittrack(other, "pull", str(bare_remote))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("gittrack: error: conflict: ") for line in lines)
    assert sorted(rid for rid in rids for line in lines if f"run {rid} " in line) == sorted(rids)


def test_a_pull_with_nothing_unmergeable_exits_0_in_a_real_process(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    other = fresh_repo(tmp_path, "other")
    rid = shared_then_unmergeable(repo, other, 1)
    assert gittrack(repo, "push", str(bare_remote)).returncode == 0
    assert gittrack(other, "pull", str(bare_remote)).returncode == 1
    # Resolved as docs/sync.md says (take the remote version): the next pull is clean.
    kept = git(other, "for-each-ref", "--format=%(refname)", "refs/gittrack-conflicts")
    (kept_at,) = kept.split()
    git(other, "update-ref", f"refs/gittrack/runs/{rid}", kept_at.rsplit("/", 1)[1])
    git(other, "update-ref", "-d", kept_at)
    proc = gittrack(other, "pull", str(bare_remote))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "0 conflict(s)" in proc.stdout
    assert Client(other).get_run(rid).data.params["opt"] == "x"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["push"], "no remote named 'origin'"),
        (["pull"], "no remote named 'origin'"),
        (["pull", "nosuchremote"], "no remote named 'nosuchremote'"),
        (["bundle", "unbundle", "missing.bundle"], "does not exist"),
        (["push", "REMOTE_UNREACHABLE"], "127.0.0.1"),
        (["push", ""], "the remote is empty"),
        (["pull", " "], "the remote is empty"),
        (["push", "."], "is this repository itself"),
        (["push", ".git"], "is this repository itself"),
        (["pull", "file://REPO"], "is this repository itself"),
    ],
)
def test_errors_are_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    make_runs(repo, 1)
    before = refs_of(repo)
    args = [a.replace("REMOTE_UNREACHABLE", f"git://127.0.0.1:{free_port()}/x") for a in args]
    args = [a.replace("REPO", str(repo)) for a in args]
    code, out, err = run_main(args, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("gittrack: error: ") and needle in err
    assert "Traceback" not in err + out
    assert refs_of(repo) == before


def test_bundle_commands(repo: Path, tmp_path: Path) -> None:
    make_runs(repo, 2)
    out = tmp_path / "runs.bundle"
    result = runner.invoke(app, ["bundle", "create", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 ref(s)" in result.stdout
    other = fresh_repo(tmp_path, "other")
    os.chdir(other)
    result = runner.invoke(app, ["bundle", "unbundle", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 new" in result.stdout


def test_usage_error_exits_2(repo: Path) -> None:
    result = runner.invoke(app, ["bundle", "create"])
    assert result.exit_code == 2


# -- real processes --------------------------------------------------------------------------
def test_clone_pull_list_in_real_processes(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    git(repo, "push", "-q", str(bare_remote), "main")
    ids = make_runs(repo, 3)
    git(repo, "remote", "add", "origin", str(bare_remote))
    pushed = gittrack(repo, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stderr == ""  # piped: no progress
    git(tmp_path, "clone", "-q", str(bare_remote), "clone")
    clone = tmp_path / "clone"
    pulled = gittrack(clone, "pull")
    assert pulled.returncode == 0, pulled.stderr
    listed = gittrack(clone, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["run_id"] for r in rows) == sorted(ids)
    mine = {r["run_id"]: r for r in json.loads(gittrack(repo, "list", "--format", "json").stdout)}
    for row in rows:
        assert row["params"] == mine[row["run_id"]]["params"]
        assert row["metrics"] == mine[row["run_id"]]["metrics"]


def test_unreachable_remote_in_a_real_process(repo: Path) -> None:
    make_runs(repo, 1)
    proc = gittrack(repo, "pull", f"git://127.0.0.1:{free_port()}/x")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("gittrack: error: ")


def test_git_track_alias_pushes(repo: Path, bare_remote: Path) -> None:
    make_runs(repo, 1)
    proc = subprocess.run(
        ["git", "track", "push", str(bare_remote)], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "refs/gittrack/runs/" in refs_of(bare_remote)


def test_progress_shows_on_a_terminal_only(repo: Path, bare_remote: Path) -> None:
    import pty

    make_runs(repo, 2)
    leader, follower = pty.openpty()
    proc = subprocess.run(
        ["gittrack", "push", str(bare_remote)],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        check=False,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal has no writer left
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"objects" in seen  # git's meters, forwarded
    assert b"objects" not in proc.stdout


def test_an_unmergeable_run_is_resolved_as_the_docs_say(
    repo: Path, bare_remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid, other = changed_on_both_sides(repo, bare_remote, tmp_path, capsys, "param")
    assert run_main(["pull"], capsys)[0] == 1
    kept_at = git(other, "for-each-ref", "--format=%(refname)", "refs/gittrack-conflicts").strip()
    code, _, err = run_main(["push"], capsys)
    # Pulling again cannot help: the line says what can.
    assert code == 1 and "gittrack pull" not in err, err
    assert f"run {rid} rejected by origin: it conflicts with the version there, kept at " in err
    assert kept_at in err and "keep one version, delete that ref" in err
    # Keep the local version (docs/sync.md, "Unmergeable").
    sha = kept_at.rsplit("/", 1)[1]
    git(other, "update-ref", f"refs/gittrack-remotes/origin/runs/{rid}", sha)
    git(other, "update-ref", "-d", kept_at)
    assert run_main(["push"], capsys)[0] == 0
    os.chdir(repo)
    assert run_main(["pull"], capsys)[0] == 0
    assert Client(repo).get_run(rid).data.params["opt"] == "2"


def test_a_run_given_where_the_remote_goes_is_named(
    repo: Path, bare_remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rid,) = make_runs(repo, 1)
    git(repo, "remote", "add", "origin", str(bare_remote))
    code, _, err = run_main(["push", rid[:8]], capsys)
    assert code == 1 and err == (
        f"gittrack: error: no remote named '{rid[:8]}' and no repository at that path; "
        f"'{rid[:8]}' is a run: give the remote first (gittrack push origin {rid[:8]})\n"
    )
    assert refs_of(bare_remote).strip() == ""
    assert run_main(["push", "origin", rid[:8]], capsys)[0] == 0


def test_registry_refs_are_named_in_words_in_push_and_pull_messages(
    repo: Path, bare_remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model's ref reads as the model, not as its encoded git name."""
    from gittrack.models.registry import encode_name

    make_runs(repo, 1)
    git(repo, "remote", "add", "origin", str(bare_remote))
    ref = f"refs/gittrack/models/{encode_name('churn ü')}/aliases/prod"
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", ref, base)
    assert run_main(["push"], capsys)[0] == 0
    other = fresh_repo(tmp_path, "other")
    git(other, "remote", "add", "origin", str(bare_remote))
    os.chdir(other)
    assert run_main(["pull"], capsys)[0] == 0
    git(repo, "commit", "-q", "--allow-empty", "-m", "moved here")  # the alias moves on both
    git(repo, "update-ref", ref, "HEAD")
    os.chdir(repo)
    assert run_main(["push"], capsys)[0] == 0
    there = git(other, "commit-tree", "-m", "there", f"{base}^{{tree}}").strip()
    git(other, "update-ref", ref, there)
    os.chdir(other)
    code, _, err = run_main(["push"], capsys)
    assert code == 1
    assert err.startswith("gittrack: error: model 'churn ü' alias 'prod' rejected by origin")
    code, _, err = run_main(["pull"], capsys)
    assert code == 1 and "conflict: model 'churn ü' alias 'prod' " in err


def test_every_kind_of_registry_ref_has_its_words() -> None:
    from gittrack.models.registry import encode_name, ref_label

    root = f"refs/gittrack/models/{encode_name('churn ü')}/"
    assert ref_label(root + "meta") == "model 'churn ü'"
    assert ref_label(root + "versions/3") == "model 'churn ü' version 3"
    assert ref_label(root + "removed/2") == "model 'churn ü' removed version 2"
    assert ref_label(root + f"aliases/{encode_name('prod-1')}") == "model 'churn ü' alias 'prod-1'"
    for other in (
        root + "versions/v3",  # not written by the registry: its ref name stays
        root + "aliases/%ZZ",
        root + "other",
        "refs/gittrack/models/%ZZ/meta",
        "refs/gittrack/runs/abc",
    ):
        assert ref_label(other) is None
