"""Run commands in-process: list/ls, show, diff, metrics, tag, rm, experiments, recover."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import fails, ok, runner
from conftest import user_tags

import gittrack
from gittrack.cli.app import app
from gittrack.naming import experiment_id_for
from gittrack.session import open_repository


@pytest.fixture
def runs(repo: Path) -> dict[str, str]:
    client = gittrack.Client()
    ids: dict[str, str] = {}
    for i, (name, exp) in enumerate([("base", "wine"), ("tuned", "wine"), ("other", "beer")]):
        run = client.create_run(exp, run_name=name, start_time=1_700_000_000_000 + i * 1000)
        rid = run.info.run_id
        client.log_params(rid, {"alpha": 0.5 * (i + 1), "model": "enet", "seed": 1})
        for step in range(30):
            client.log_metric(rid, "rmse", 1.0 / (step + 1 + i), step=step)
        client.log_metric(rid, "r2", 0.5 + i / 10)
        client.set_tag(rid, "team", "a")
        client.set_terminated(rid)
        ids[name] = rid
    return ids


def test_list_table_shows_varying_columns_newest_first(runs: dict[str, str]) -> None:
    text = ok("list")
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:6] == ["run", "name", "experiment", "status", "start", "duration"]
    assert "params.alpha" in header and "metrics.r2" in header and "metrics.rmse" in header
    assert "params.model" not in header and "params.seed" not in header  # never vary
    assert [line.split()[1] for line in lines[2:]] == ["other", "tuned", "base"]
    assert lines[2].split()[0] == runs["other"][:8]
    assert ok("ls") == text


def test_list_json_is_the_documented_shape(runs: dict[str, str]) -> None:
    data = json.loads(ok("list", "--format", "json"))
    assert [d["name"] for d in data] == ["other", "tuned", "base"]
    first = data[2]
    assert list(first) == [
        "run_id", "commit", "name", "experiment", "status", "start_time", "end_time",
        "params", "metrics", "tags",
    ]  # fmt: skip
    assert first["run_id"] == runs["base"]
    assert first["start_time"] == "2023-11-14T22:13:20.000Z"
    assert first["end_time"].endswith("Z")
    assert first["params"] == {"alpha": 0.5, "model": "enet", "seed": 1}
    assert first["metrics"] == {"rmse": pytest.approx(1 / 30), "r2": 0.5}
    assert user_tags(first["tags"]) == {"team": "a"}


def test_list_filter_sort_experiment_max_columns_csv(runs: dict[str, str]) -> None:
    out = ok("list", "--filter", "metrics.r2 > 0.55 and params.model = 'enet'", "-f", "json")
    assert [d["name"] for d in json.loads(out)] == ["other", "tuned"]
    out = ok("list", "--sort", "metrics.r2 ASC", "--format", "json", "-n", "2")
    assert [d["name"] for d in json.loads(out)] == ["base", "tuned"]
    out = ok("list", "-e", "wine", "-e", "nope", "-f", "json")
    assert {d["name"] for d in json.loads(out)} == {"base", "tuned"}
    out = ok("list", "--columns", "name,params.alpha", "--columns", "metrics.r2", "-f", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["name", "params.alpha", "metrics.r2"]
    assert rows[1:] == [["other", "1.5", "0.7"], ["tuned", "1.0", "0.6"], ["base", "0.5", "0.5"]]
    full = list(csv.DictReader(io.StringIO(ok("list", "-f", "csv"))))
    assert full[0]["run_id"] == runs["other"] and full[0]["params.model"] == "enet"
    assert "params.seed" in ok("list", "--all-columns").splitlines()[0]


def test_list_empty_repo_and_outside_a_repo(
    empty_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert json.loads(ok("list", "-f", "json")) == []
    assert ok("list").split() == ["run", "name", "experiment", "status", "start", "duration"] + [
        "-" * n for n in (5, 6, 12, 8, 7, 10)
    ]  # an empty table: headers only
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    err = fails(capsys, "list")
    assert "not inside a git repository" in err and "GITTRACK_REPO" in err
    assert not (outside / ".gittrack-runs").exists()


def test_list_errors_are_one_line(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(capsys, "list", "--filter", "metrics.rmse < 'x' and")
    assert "position" in err and "'x'" in err
    err = fails(capsys, "list", "--sort", "bogus DESC")
    assert "unknown attribute 'bogus'" in err
    err = fails(capsys, "list", "--sort", "metrics.rmsee")
    assert "unknown sort key metrics.rmsee" in err and "rmse" in err
    err = fails(capsys, "list", "--sort", "metrics.rmse SIDEWAYS")
    assert "ASC or DESC" in err
    err = fails(capsys, "list", "--columns", "name,bogus")
    assert "unknown column 'bogus'" in err
    err = fails(capsys, "list", "--format", "xml")
    assert "unknown format 'xml'" in err
    fails(capsys, "list", "--no-such-option", code=2)
    fails(capsys, "list", "-n", "-1", code=2)
    fails(capsys, "no-such-command", code=2)


def test_show(runs: dict[str, str], repo: Path) -> None:
    text = ok("show", "base")
    assert runs["base"] in text and "wine" in text and "FINISHED" in text
    assert "alpha" in text and "rmse" in text and "team" in text
    assert "python" in text and "--packages lists them" in text
    metrics_line = next(line for line in text.splitlines() if line.strip().startswith("rmse"))
    assert metrics_line.split()[-2:] == ["29", "30"]  # last step, number of steps
    data = json.loads(ok("show", runs["base"][:6], "--format", "json"))
    assert data["run_id"] == runs["base"] and data["params"]["alpha"] == 0.5
    assert data["metrics"]["rmse"]["count"] == 30 and data["source"]["dirty"] is False
    assert isinstance(data["environment"]["packages"], dict)
    assert "pyyaml" in ok("show", "base", "--packages")


def test_show_artifacts_and_dirty_code(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    client = gittrack.Client()
    run = client.create_run("e", run_name="dirty")
    writer = client.writer(run.info.run_id)

    def add(record: gittrack.format.RunRecord) -> None:  # type: ignore[name-defined]
        record.artifacts["model.pkl"] = {"size": 1234, "sha256": "ab" * 32}

    writer.apply(add)
    client.set_terminated(run.info.run_id)
    text = ok("show", "dirty")
    assert "uncommitted changes" in text
    assert "model.pkl" in text and "1234" in text


def test_show_lists_inputs_as_gittrack_inputs_does(repo: Path) -> None:
    """An input logged without a context shows an empty cell (not Python's "None"), and
    digests are shortened as `gittrack inputs` shortens them."""
    (repo / "data.csv").write_text("a,b\n1,2\n")
    with gittrack.start_run(run_name="with-input"):
        gittrack.log_input("data.csv", name="train")
    text = ok("show", "with-input")
    inputs = text.split("\ninputs\n", 1)[1].split("\n\n", 1)[0]
    row = next(line.split() for line in inputs.splitlines() if line.strip().startswith("train"))
    digest = gittrack.lineage.get_inputs("with-input")[0]["digest"]
    assert row == ["train", digest[: len("sha256:") + 12]]
    assert "None" not in inputs


def test_run_reference_errors(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    client = gittrack.Client()
    twin = client.create_run("wine", run_name="base")
    client.set_terminated(twin.info.run_id)
    err = fails(capsys, "show", "base")
    assert "ambiguous" in err and runs["base"][:8] in err and twin.info.run_id[:8] in err
    err = fails(capsys, "show", "nothing-like-it")
    assert "no run matches 'nothing-like-it'" in err
    fails(capsys, "show", code=2)


def test_diff(runs: dict[str, str], repo: Path) -> None:
    text = ok("diff", "base", "tuned")
    assert "alpha" in text and "0.5" in text and "1.0" in text and "changed" in text
    assert "params (2 identical)" in text
    r2 = next(line for line in text.splitlines() if line.strip().startswith("r2"))
    assert r2.split()[1:] == ["0.5", "0.6", "0.1", "+20.00%"]
    assert "1.0" in ok("list", "--columns", "params.alpha")
    data = json.loads(ok("diff", "base", "tuned", "--format", "json"))
    assert data["params"] == [{"key": "alpha", "a": 0.5, "b": 1.0, "change": "changed"}]
    assert data["code"] is None
    rmse = next(m for m in data["metrics"] if m["key"] == "rmse")
    assert rmse["delta"] == pytest.approx(1 / 31 - 1 / 30)


def test_diff_and_list_take_params_as_mlflow_strings(repo: Path) -> None:
    """1 and '1' are one param value (logging one after the other is no conflict, a
    filter matches both): diff called them 'changed' and list showed them as differing."""
    client = gittrack.Client()
    for name, params in (("ta", {"p": 1, "q": "1.0", "b": True}), ("tb", {"p": "1", "q": 1.0})):
        rid = client.create_run("types", run_name=name).info.run_id
        client.log_params(rid, {**params, "n": 3 if name == "ta" else 3.0})
        client.set_terminated(rid)
    data = json.loads(ok("diff", "ta", "tb", "--format", "json"))
    assert data["params"] == [
        {"key": "b", "a": True, "b": None, "change": "removed"},
        {"key": "n", "a": 3, "b": 3.0, "change": "changed"},  # '3' and '3.0' differ
    ]
    assert "params (2 identical)" in ok("diff", "ta", "tb")
    header = ok("list", "-e", "types").splitlines()[0].split()
    assert [c for c in header if c.startswith("params.")] == ["params.b", "params.n"]


def _headerless_columns(text: str) -> list[str]:
    """Rule lines (``---  ---``) with a dash run under a blank header cell."""
    lines = text.splitlines()
    bad = []
    for above, line in itertools.pairwise(lines):
        if not line.strip() or set(line.strip()) - {"-", " "}:
            continue
        for match in re.finditer(r"-+", line):
            if not above[match.start() : match.end()].strip():
                bad.append(f"{above!r} over {line!r}")
    return bad


def test_diff_tables_have_a_header_over_every_column(runs: dict[str, str], repo: Path) -> None:
    text = ok("diff", "base", "tuned")
    assert "params (2 identical)" in text and "metrics" in text
    assert _headerless_columns(text) == []
    assert re.search(r"^\s*param\s+A\s+B\s+change$", text, re.M), text


def test_diff_code(runs: dict[str, str], repo: Path) -> None:
    (repo / "train.py").write_text("print('v2')\nprint('more')\n")
    client = gittrack.Client()
    run = client.create_run("wine", run_name="edited")
    client.set_terminated(run.info.run_id)
    text = ok("diff", "base", "edited", "--code")
    assert "train.py" in text and "1 file changed" in text
    assert ".gittrack/run" not in text
    full = ok("diff", "base", "edited", "--code-full")
    assert "+print('more')" in full
    assert "(no code changes)" in ok("diff", "base", "tuned", "--code")


def test_metrics_table_json_csv_plot(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = ok("metrics", "base", "rmse")
    assert text.startswith("rmse  (30 points")
    assert "▁" in text and "█" in text
    assert "20 points not shown" in text
    assert "…" in text
    assert len(ok("metrics", "base", "rmse", "--all").splitlines()) > 30
    plot = ok("metrics", "base", "rmse", "--plot")
    assert "●" in plot and "step 29" in plot
    data = json.loads(ok("metrics", "base", "--format", "json"))
    assert sorted(data) == ["r2", "rmse"] and len(data["rmse"]) == 30
    assert data["rmse"][0] == {"step": 0, "timestamp": data["rmse"][0]["timestamp"], "value": 1.0}
    rows = list(csv.DictReader(io.StringIO(ok("metrics", "base", "r2", "-f", "csv"))))
    assert rows == [{"key": "r2", "step": "0", "timestamp": rows[0]["timestamp"], "value": "0.5"}]
    err = fails(capsys, "metrics", "base", "acc")
    assert "has no metric 'acc'" in err and "rmse" in err


def test_metrics_summary_shows_the_first_and_last_points_by_step(repo: Path) -> None:
    with gittrack.start_run(run_name="shuffled"):
        for step in [*range(30, 60), *range(30)]:  # the later half logged first
            gittrack.log_metric("loss", step / 10, step=step, timestamp=1_700_000_000_000 + step)
    lines = ok("metrics", "shuffled", "loss").splitlines()
    assert lines[0].startswith("loss  (60 points, last 5.9)")
    assert lines[1] == "(50 points not shown; --all shows every point)"
    rows = [line.split() for line in lines[4:]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "…", "55", "56", "57", "58", "59"]
    assert rows[0] == ["0", "0.0", "2023-11-14T22:13:20.000Z"]
    assert rows[-1] == ["59", "5.9", "2023-11-14T22:13:20.059Z"]
    every = ok("metrics", "shuffled", "loss", "--all").splitlines()[3:]
    assert [int(line.split()[0]) for line in every] == list(range(60))


def test_metrics_of_a_run_without_metrics(repo: Path) -> None:
    client = gittrack.Client()
    run = client.create_run("e", run_name="silent")
    client.set_terminated(run.info.run_id)
    assert "logged no metrics" in ok("metrics", "silent")
    assert json.loads(ok("metrics", "silent", "-f", "json")) == {}


def test_tag(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    ok("tag", "base", "stage=prod", "note=a=b")
    assert user_tags(gittrack.get_run(runs["base"]).data.tags) == {
        "team": "a",
        "stage": "prod",
        "note": "a=b",
    }
    ok("tag", "base", "--delete", "note")
    assert "note" not in gittrack.get_run(runs["base"]).data.tags
    assert (
        "stage"
        in json.loads(ok("list", "-f", "json", "--filter", "tags.stage = 'prod'"))[0]["tags"]
    )
    assert "expected key=value, got 'oops'" in fails(capsys, "tag", "base", "oops")
    assert "nothing to do" in fails(capsys, "tag", "base")
    assert "has no tag 'zzz'" in fails(capsys, "tag", "base", "-d", "zzz")
    # show lists MLflow's system tags: deleting one said the run 'has no tag' of that name
    err = fails(capsys, "tag", "base", "-d", "mlflow.runName")
    assert "'mlflow.runName' is derived from the run's record" in err


def test_rm(
    runs: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(capsys, "rm", "base")
    assert "refusing to remove 1 run(s) without confirmation: pass --yes" in err
    monkeypatch.setattr("gittrack.cli.runs_cmd._stdin_is_terminal", lambda: True)
    result = runner.invoke(app, ["rm", "base"], input="n\n")
    assert result.exit_code == 1  # aborted
    assert len(json.loads(ok("list", "-f", "json"))) == 3
    result = runner.invoke(app, ["rm", "base", "tuned"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "removed run" in result.output
    assert [d["name"] for d in json.loads(ok("list", "-f", "json"))] == ["other"]
    ok("rm", "other", "--yes")
    assert json.loads(ok("list", "-f", "json")) == []
    assert "no run matches" in fails(capsys, "rm", "base", "--yes")


def test_rm_in_a_read_only_repository_is_one_line(
    runs: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    real_open = os.open

    def read_only(path: str | bytes, flags: int, *args: int, **kwargs: object) -> int:
        if flags & os.O_CREAT and os.fsdecode(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(os, "open", read_only)
        err = fails(capsys, "rm", "base", "--yes")
    assert "cannot delete" in err and "Read-only file system" in err
    assert len(json.loads(ok("list", "-f", "json"))) == 3


def test_show_says_a_run_is_deleted(runs: dict[str, str]) -> None:
    """`list` leaves a deleted run out; `show` of it said nothing about it."""
    gittrack.delete_run(runs["base"])
    assert "base" not in ok("list")
    assert re.search(r"^status +FINISHED \(deleted\)$", ok("show", "base"), re.M)
    assert json.loads(ok("show", "base", "-f", "json"))["lifecycle_stage"] == "deleted"
    gittrack.MlflowClient().restore_run(runs["base"])
    assert re.search(r"^status +FINISHED$", ok("show", "base"), re.M)
    assert json.loads(ok("show", "base", "-f", "json"))["lifecycle_stage"] == "active"


def test_tagging_a_deleted_run_is_one_line_and_changes_nothing(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`gittrack tag` of a run deleted with delete_run was recorded (MLflow and
    `gittrack server` refuse): it is now MLflow's one-line error, exit 1."""
    gittrack.delete_run(runs["base"])
    before = ok("show", "base", "-f", "json")
    err = fails(capsys, "tag", "base", "owner=me")
    assert f"The run {runs['base']} must be in the 'active' state. Current state is deleted." in err
    assert ok("show", "base", "-f", "json") == before
    gittrack.MlflowClient().restore_run(runs["base"])
    ok("tag", "base", "owner=me")
    assert json.loads(ok("show", "base", "-f", "json"))["tags"]["owner"] == "me"


def test_a_name_with_edge_spaces_can_be_named(repo: Path) -> None:
    """A run named '  spaced ' (kept exactly) was unreachable: the reference was trimmed."""
    client = gittrack.Client()
    spaced = client.create_run("e", run_name="  spaced ").info.run_id
    plain = client.create_run("e", run_name="spaced").info.run_id
    client.flush()
    assert json.loads(ok("show", "  spaced ", "-f", "json"))["run_id"] == spaced
    assert json.loads(ok("show", "spaced", "-f", "json"))["run_id"] == plain
    assert json.loads(ok("show", " spaced", "-f", "json"))["run_id"] == plain  # trimmed
    assert gittrack.get_run("  spaced ").info.run_id == spaced
    ok("tag", "  spaced ", "k=v")
    assert client.get_run(spaced).data.tags["k"] == "v"


def test_a_reference_that_is_not_utf8_matches_nothing(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`gittrack show $'\\xff'` (bytes that are not UTF-8) was an internal error, exit 3."""
    assert "no run matches" in fails(capsys, "show", "\udcff")
    assert "no run matches" in fails(capsys, "tag", "base\udcff", "a=b")


def test_experiments(runs: dict[str, str]) -> None:
    text = ok("experiments")
    lines = text.splitlines()
    assert lines[0].split() == ["name", "experiment_id", "runs", "last_run"]
    named = [line.split()[0:3:2] for line in lines[2:]]
    assert named == [["beer", "1"], ["wine", "2"], ["Default", "0"]]
    data = json.loads(ok("experiments", "-f", "json"))
    assert data[1] == {
        "name": "wine", "experiment_id": experiment_id_for("wine"), "runs": 2,
        "last_run": "2023-11-14T22:13:21.000Z", "lifecycle_stage": "active",
    }  # fmt: skip


def test_experiments_lists_unused_ones_and_leaves_out_deleted_runs_and_experiments(
    runs: dict[str, str],
) -> None:
    """An experiment made by create_experiment and not used yet was missing; a deleted
    experiment was listed as any other; runs removed with delete_run were counted."""
    client = gittrack.Client()
    client.create_experiment("fresh")
    gone = client.create_experiment("gone")
    client.create_run("gone")
    client.delete_experiment(gone)
    client.delete_run(runs["tuned"])
    listed = [
        (d["name"], d["runs"], d["last_run"]) for d in json.loads(ok("experiments", "-f", "json"))
    ]
    assert listed == [
        ("fresh", 0, None),
        ("beer", 1, "2023-11-14T22:13:22.000Z"),
        ("wine", 1, "2023-11-14T22:13:20.000Z"),
        ("Default", 0, None),
    ]
    every = json.loads(ok("experiments", "--all", "-f", "json"))
    assert [(d["name"], d["lifecycle_stage"]) for d in every if d["name"] == "gone"] == [
        ("gone", "deleted")
    ]
    assert len(every) == 5
    table = ok("experiments", "--all").splitlines()
    assert table[0].split() == ["name", "experiment_id", "runs", "last_run", "lifecycle_stage"]
    assert any(line.split()[0] == "gone" and line.split()[-1] == "deleted" for line in table)


def test_recover_marks_dead_runs_killed_and_keeps_metrics(repo: Path) -> None:
    """A deleted run that crashed cannot change (as in MLflow): recover leaves it out
    instead of stopping at it with the runs after it left RUNNING."""
    code = (
        "import os, gittrack\n"
        "c = gittrack.Client()\n"
        "c.delete_run(c.create_run('e', run_name='deleted').info.run_id)\n"
        "r = c.create_run('e', run_name='crashy')\n"
        "c.log_metric(r.info.run_id, 'loss', 0.5, step=1)\n"
        "c.flush()\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert "RUNNING" in ok("list")
    assert "would mark KILLED" in ok("recover", "--dry-run")
    assert "RUNNING" in ok("list")
    text = ok("recover")
    assert "marked KILLED" in text and "crashy" in text and "is gone" in text
    assert "deleted" not in text
    data = json.loads(ok("list", "-f", "json"))[0]
    assert data["status"] == "KILLED" and data["metrics"] == {"loss": 0.5}
    assert ok("recover") == "no dead runs\n"


def test_recover_refuses_a_live_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = gittrack.Client()
    run = client.create_run("e", run_name="alive")
    rid = run.info.run_id
    try:
        err = fails(capsys, "recover", rid)
        assert "may still be running" in err and "--force" in err
        # a dry run says what the real one would do: it refused, so it refuses too
        assert fails(capsys, "recover", rid, "--dry-run") == err
        assert "would mark KILLED: " in ok("recover", rid, "--dry-run", "--force")
        assert client.get_run(rid).info.status == "RUNNING"
    finally:
        client.set_terminated(rid)
    assert "FINISHED, not RUNNING" in fails(capsys, "recover", rid, "--dry-run")


def test_git_track_and_env_repo(runs: dict[str, str], repo: Path, tmp_path: Path) -> None:
    env = dict(os.environ, GITTRACK_REPO=str(repo))
    proc = subprocess.run(
        ["git", "track", "list", "-f", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 3


def test_corrupt_run_is_left_out_of_list_and_show_explains(
    runs: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    bad = "e" * 32
    subprocess.run(["git", "update-ref", f"refs/gittrack/runs/{bad}", head], cwd=repo, check=True)
    assert [d["name"] for d in json.loads(ok("list", "-f", "json"))] == ["other", "tuned", "base"]
    err = fails(capsys, "show", "eeee")
    assert "not a gittrack run" in err


def test_inputs_in_list_json_filter_and_diff(repo: Path) -> None:
    data = repo / "data.csv"
    data.write_text("a\n1\n")
    with gittrack.start_run(run_name="d1"):
        gittrack.log_input(str(data), name="train")
    data.write_text("a\n2\n")
    with gittrack.start_run(run_name="d2"):
        gittrack.log_input(str(data), name="train")
    rows = json.loads(ok("list", "-f", "json"))
    digests = [r["inputs"]["train"]["digest"] for r in rows]
    assert len(set(digests)) == 2
    out = ok("list", "-f", "json", "--filter", f"inputs.train.digest = '{digests[1]}'")
    assert [r["name"] for r in json.loads(out)] == ["d1"]
    text = ok("diff", "d1", "d2")
    assert "inputs" in text and "train" in text and "changed" in text
    assert "inputs: identical (1)" in ok("diff", "d1", "d1")


@pytest.mark.parametrize("purge", [False, True], ids=["rm RUN", "rm --deleted"])
def test_rm_refuses_a_run_that_a_model_version_needs(
    repo: Path, capsys: pytest.CaptureFixture[str], purge: bool
) -> None:
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    import numpy as np

    from gittrack.models import registry

    X = np.array([[1.0], [2.0], [3.0]])
    with gittrack.start_run() as run:
        gittrack.sklearn.log_model(sklearn_linear.LinearRegression().fit(X, X[:, 0]), "model")
    rid = run.info.run_id
    gittrack.register_model(f"runs:/{rid}/model", "churn")
    registry.set_alias(open_repository(create=False), "churn", "prod", 1)
    if purge:  # a soft-deleted run is needed as much
        gittrack.delete_run(rid)
    which = "--deleted" if purge else rid[:8]
    err = fails(capsys, "rm", which, "--yes")
    assert f"run {rid[:8]} holds model churn version 1" in err
    assert "gittrack models rm churn/1" in err and "--force" in err
    assert gittrack.get_run(rid).info.run_id == rid
    out = ok("rm", which, "--yes", "--force")
    assert "model churn version 1 no longer loads" in out
    assert "no run matches" in fails(capsys, "show", rid)


def test_rm_refuses_a_run_still_being_logged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm` of a RUNNING run whose process is alive removed it under the process, whose
    next log_metric then failed (its run 'was deleted while it was being logged'). It is
    refused, as `recover` refuses a live run, unless --force; a dead one is removed."""
    client = gittrack.Client()
    live = client.create_run("e", run_name="live").info.run_id
    client.log_metric(live, "loss", 0.5, synchronous=True)
    err = fails(capsys, "rm", "live", "--yes")
    assert f"run {live[:8]} is RUNNING" in err and "--force" in err
    client.log_metric(live, "loss", 0.4, step=1, synchronous=True)  # still logging
    assert client.get_run(live).data.metrics == {"loss": 0.4}
    code = (  # a process that wrote its run, then died
        "import os, gittrack\nc = gittrack.Client()\n"
        "c.flush(c.create_run('e', run_name='dead').info.run_id)\nos._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert "removed run" in ok("rm", "dead", "--yes")
    assert "removed run" in ok("rm", "live", "--yes", "--force")
    assert "no run matches" in fails(capsys, "show", live)


def test_rm_of_a_parent_says_its_children_are_kept(repo: Path) -> None:
    with (
        gittrack.start_run(run_name="parent") as parent,
        gittrack.start_run(run_name="child", nested=True) as child,
    ):
        gittrack.log_metric("m", 1.0)
    out = ok("rm", "parent", "--yes")
    kept = f"its 1 child run(s) are kept and still name it as parent: {child.info.run_id[:8]}"
    assert kept in out
    assert gittrack.get_run(child.info.run_id).info.parent_run_id == parent.info.run_id


def test_list_parent_finds_the_children_of_a_removed_parent(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm` says the children still name their parent; `list --parent <its id>` (the same
    as the documented tags.mlflow.parentRunId filter) failed with 'no run matches'."""
    with (
        gittrack.start_run(run_name="parent") as parent,
        gittrack.start_run(run_name="child", nested=True) as child,
    ):
        pass
    pid = parent.info.run_id
    ok("rm", pid, "--yes")
    listed = json.loads(ok("list", "--parent", pid.upper(), "-f", "json"))
    same = json.loads(ok("list", "--filter", f"tags.mlflow.parentRunId = '{pid}'", "-f", "json"))
    assert [r["run_id"] for r in listed] == [r["run_id"] for r in same] == [child.info.run_id]
    assert "no run matches" in fails(capsys, "list", "--parent", pid[:8])
