"""Sharing commands: ``push``, ``pull`` and ``bundle create|unbundle``.

Thin shells over :mod:`gittrack.sync`: progress goes to a terminal's stderr only, results
are one line each on stdout; runs rejected by a push, and runs a pull or unbundle could not
merge, one line each on stderr (exit 1, after every other run was done).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from gittrack.cli import render as out
from gittrack.errors import RemoteError

if TYPE_CHECKING:
    from gittrack.sync import PullResult

bundle_app = typer.Typer(
    name="bundle",
    help="Move runs through a single file (git bundle format), e.g. to air-gapped machines.",
    no_args_is_help=True,
)

RemoteArg = Annotated[
    str | None,
    typer.Argument(help="Remote name (default: origin), URL or path of a git repository."),
]


def _progress() -> Callable[[bytes], None] | None:
    """Forward transfer progress to a terminal; stay quiet when stderr is piped."""
    if not sys.stderr.isatty():
        return None

    def show(data: bytes) -> None:
        sys.stderr.buffer.write(data)
        sys.stderr.flush()

    return show


def _name(ref: str) -> str:
    """A ref in words: ``run <id>``, ``model 'x' version 3``, ``logged model m-...``,
    ``experiment <id>``; a ref gittrack did not write keeps its name."""
    from gittrack.models import logged, registry
    from gittrack.naming import EXPERIMENT_REF_ROOT, RUN_REF_PREFIX

    for root, kind in (
        (RUN_REF_PREFIX, "run"),
        (logged.REF_ROOT, "logged model"),
        (EXPERIMENT_REF_ROOT, "experiment"),
    ):
        if ref.startswith(root):
            return f"{kind} {ref[len(root) :]}"
    return registry.ref_label(ref) or ref


def push_cmd(
    remote: RemoteArg = None,
    runs: Annotated[
        list[str] | None, typer.Argument(help="Runs to push (id, prefix, commit or name).")
    ] = None,
) -> None:
    """Push runs (all, or the ones named) and registry refs to a git remote."""
    from gittrack.sync import push

    result = push(remote=remote, runs=runs or None, progress=_progress())
    changed = len(result.new) + len(result.updated)
    if changed:
        typer.echo(
            f"pushed {len(result.new)} new and {len(result.updated)} updated ref(s) to "
            f"{result.remote} ({result.up_to_date} already there)"
        )
    elif result.ok:
        typer.echo(f"everything is up to date on {result.remote}")
    if result.artifacts_uploaded:
        typer.echo(f"uploaded {result.artifacts_uploaded} artifact object(s)")
    if result.artifacts_stayed_local:
        from gittrack.artifacts.remote import HOW_TO_CONFIGURE

        typer.echo(
            f"gittrack: {out.human_size(result.artifacts_stayed_local)} of artifacts stayed local "
            f"({result.remote} cannot hold them): {HOW_TO_CONFIGURE}, then run "
            "'gittrack artifacts push'",
            err=True,
        )
    unresolved = dict(result.unresolved)
    lines = [
        f"{_name(ref)} rejected by {result.remote}: it conflicts with the version there, kept "
        f"at {unresolved[ref]} (docs/sync.md, 'Unmergeable': keep one version, delete that "
        "ref, push again)"
        if ref in unresolved
        else f"{_name(ref)} rejected by {result.remote} ({reason or 'changed there'}): it "
        "changed there since you last pulled; run 'gittrack pull' and push again"
        for ref, reason in result.rejected
    ]
    _fail_with(lines)


def _fail_with(lines: list[str]) -> None:
    """One stderr line each; the last goes through the error funnel (exit code 1)."""
    for line in lines[:-1]:
        out.echo_error(line)
    if lines:
        raise RemoteError(lines[-1])


def _report(result: PullResult, verb: str) -> None:
    parts = [
        f"{len(result.added)} new",
        f"{len(result.updated)} updated",
        f"{len(result.merged)} merged",
        f"{len(result.kept_local)} kept local",
        f"{len(result.conflicts)} conflict(s)",
    ]
    typer.echo(f"{verb} {result.remote}: {', '.join(parts)} ({result.unchanged} unchanged)")
    for ref in result.merged:
        typer.echo(f"merged {_name(ref)}: it changed on both sides")
    _fail_with(
        [
            f"conflict: {_name(c.ref)} {c.reason}; kept the local version, the other is at "
            f"{c.kept_at} (docs/sync.md, 'Unmergeable': keep one version, delete that ref)"
            for c in result.conflicts
        ]
    )


def pull_cmd(remote: RemoteArg = None) -> None:
    """Fetch every run the remote has; local runs are kept (changed runs are merged).

    Exits 1 when a run could not be merged (each one named on stderr).
    """
    from gittrack.sync import pull

    _report(pull(remote=remote, progress=_progress()), "pulled from")


@bundle_app.command("create")
def bundle_create_cmd(
    file: Annotated[str, typer.Argument(help="Bundle file to write.")],
    runs: Annotated[
        list[str] | None, typer.Argument(help="Runs to include (default: every run).")
    ] = None,
) -> None:
    """Write runs (default: all gittrack refs) into a git bundle file."""
    from gittrack.sync import bundle_create

    result = bundle_create(file, runs or None, progress=_progress())
    typer.echo(f"wrote {result.refs} ref(s) to {result.path}")


@bundle_app.command("unbundle")
def bundle_unbundle_cmd(
    file: Annotated[str, typer.Argument(help="Bundle file to read.")],
) -> None:
    """Import the runs of a bundle file (same rule as pull, exit 1 on a conflict)."""
    from gittrack.sync import bundle_unbundle

    _report(bundle_unbundle(file, progress=_progress()), "imported from")


def register(app: typer.Typer) -> None:
    """Add push, pull and bundle to the gittrack command line."""
    app.command("push")(push_cmd)
    app.command("pull")(pull_cmd)
    app.add_typer(bundle_app)
