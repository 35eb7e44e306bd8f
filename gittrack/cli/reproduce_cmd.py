"""Commands that execute or restore runs: ``run``, ``reproduce`` and ``checkout``.

Thin shells over :mod:`gittrack.runner` and :mod:`gittrack.reproduce`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gittrack.cli import render as out
from gittrack.errors import ReproduceError

if TYPE_CHECKING:
    from gittrack.entities import Run
    from gittrack.reproduce import ReproduceResult

MAX_WARNINGS = 20
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("-P", "--param", help="A param as key=value (repeatable).", show_default=False),
]


def _note(message: str) -> None:
    typer.echo(f"gittrack: {message}", err=True)


def _interactive() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


def _announce(run: Run) -> None:
    _note(f"run {run.info.run_id[:12]} ({run.info.run_name}) started in {run.info.experiment}")


def run_cmd(
    command: Annotated[
        list[str] | None, typer.Argument(help="The command to run (put it after --).")
    ] = None,
    param: ParamOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name.")] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Experiment of the run.")
    ] = None,
    entry_point: Annotated[
        str | None,
        typer.Option("-e", "--entry-point", help="Entry point of gittrack.yaml / MLproject."),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", help="Record a data file or folder as an input (repeatable)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Also store the --input bytes in the artifact store.")
    ] = False,
) -> None:
    """Run a command as a tracked run: gittrack run -P lr=0.1 -- python train.py."""
    from gittrack.runner import parse_param_args, plan_command, run_tracked

    if keep and not inputs:
        raise typer.BadParameter("--keep stores the bytes of --input paths: give --input too")
    plan = plan_command(
        command or [],
        params=parse_param_args(param or []),
        entry_point=entry_point,
        project_dir=Path.cwd(),
    )
    result = run_tracked(
        plan,
        run_name=name,
        experiment=experiment,
        inputs=inputs or [],
        keep_inputs=keep,
        stdout=typer.get_binary_stream("stdout"),
        stderr=typer.get_binary_stream("stderr"),
        on_start=_announce,
    )
    commit = f", commit {result.commit[:12]}" if result.commit else ""
    _note(f"run {result.run_id[:12]} {result.status} (exit {result.exit_code}){commit}")
    if result.exit_code:
        # SystemExit, not typer.Exit: click in non-standalone mode turns Exit into a
        # return value that the funnel does not pass on.
        raise SystemExit(result.exit_code)


def _number(value: float | None) -> str:
    return "-" if value is None else repr(value)


def _verdict(result: ReproduceResult, fmt: str) -> str:
    rows: list[dict[str, Any]] = [
        {
            "metric": c.key,
            "original": c.original if fmt == "json" else _number(c.original),
            "reproduced": c.reproduced if fmt == "json" else _number(c.reproduced),
            "verdict": "match" if c.match else "MISMATCH",
        }
        for c in result.comparisons
    ]
    return out.render(rows, ["metric", "original", "reproduced", "verdict"], fmt)


def reproduce_cmd(
    run: Annotated[str, typer.Argument(help="Run id, commit hash (prefix) or name.")],
    into: Annotated[
        Path | None, typer.Option("--into", help="Materialise the code here (empty or new).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Run without asking.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse when python or package versions differ.")
    ] = False,
    rtol: Annotated[float, typer.Option("--rtol", help="Relative tolerance.")] = 1e-9,
    atol: Annotated[float, typer.Option("--atol", help="Absolute tolerance.")] = 0.0,
    allow_changed_inputs: Annotated[
        bool, typer.Option("--allow-changed-inputs", help="Run even if recorded inputs changed.")
    ] = False,
    param: ParamOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Verdict format: table, json or csv.")
    ] = "table",
) -> None:
    """Re-run a run's exact code, command and params as a new run; compare the metrics."""
    from gittrack.reproduce import check_tolerances, execute_reproduction, prepare_reproduction
    from gittrack.runner import parse_param_args
    from gittrack.session import open_repository

    out.check_format(fmt)
    check_tolerances(rtol, atol)
    if not yes and not _interactive():
        raise ReproduceError("reproduce executes the run's command: pass --yes to allow it")
    runs = open_repository(create=False)
    repro = prepare_reproduction(
        runs,
        run,
        into=into,
        strict=strict,
        allow_changed_inputs=allow_changed_inputs,
        overrides=parse_param_args(param or []),
    )
    notes = repro.environment_differences + repro.input_problems + repro.warnings
    for line in notes[:MAX_WARNINGS]:
        _note(f"warning: {line}")
    if len(notes) > MAX_WARNINGS:
        _note(f"warning: ... and {len(notes) - MAX_WARNINGS} more differences (--strict refuses)")
    for line in repro.notes:
        _note(line)
    _note(f"run {repro.run_id[:12]}: code materialised in {repro.workdir}")
    where = f"{repro.workdir / repro.cwd}"
    if not yes and not typer.confirm(f"Run `{repro.display_command}` in {where}?", err=True):
        repro.cleanup()
        raise SystemExit(1)
    # A machine-read verdict owns stdout: the command's own output goes to stderr then.
    child_out: Literal["stdout", "stderr"] = "stdout" if fmt == "table" else "stderr"
    result = execute_reproduction(
        runs,
        repro,
        rtol=rtol,
        atol=atol,
        stdout=typer.get_binary_stream(child_out),
        stderr=typer.get_binary_stream("stderr"),
        on_start=_announce,
    )
    typer.echo(_verdict(result, fmt))
    new, original = result.run.run_id[:12], result.original_run_id[:12]
    if result.run.status != "FINISHED":
        _note(f"run {new} ended {result.run.status} (exit {result.run.exit_code}): no match")
    elif result.matched:
        _note(f"run {new} reproduces run {original}: all metrics match")
    else:
        bad = sum(not c.match for c in result.comparisons)
        _note(f"run {new} does NOT reproduce run {original}: {bad} metric(s) differ")
    if not result.matched:
        raise SystemExit(1)


def checkout_cmd(
    run: Annotated[str, typer.Argument(help="Run id, commit hash (prefix) or name.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite uncommitted changes.")] = False,
) -> None:
    """Restore a run's code into the working tree (HEAD and branches do not move)."""
    from gittrack.reproduce import checkout_run
    from gittrack.session import open_repository

    result = checkout_run(open_repository(create=False), run, force=force)
    for warning in result.warnings:
        _note(f"warning: {warning}")
    typer.echo(
        f"run {result.run_id[:12]}: {len(result.written)} file(s) written, "
        f"{len(result.deleted)} deleted; params in {result.params_file}"
    )


def register(app: typer.Typer) -> None:
    """Add run, reproduce and checkout to the CLI."""
    app.command(
        "run",
        context_settings={"allow_interspersed_args": False},
    )(run_cmd)
    app.command("reproduce")(reproduce_cmd)
    app.command("checkout")(checkout_cmd)
