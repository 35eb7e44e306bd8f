"""Artifact commands: ``artifacts ls|get|verify|push|fetch`` and ``gc``.

Thin shells over :mod:`gittrack.artifacts`; heavy modules load inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gittrack.cli import render as out

if TYPE_CHECKING:
    from gittrack.artifacts.api import Artifacts
    from gittrack.client import Client

artifacts_app = typer.Typer(
    name="artifacts",
    help="List, fetch, verify and share the artifacts of runs.",
    no_args_is_help=True,
)

FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]


def _open() -> tuple[Client, Artifacts]:
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.client import Client

    client = Client(create=False)
    return client, artifacts_of(client.store)


def ls_cmd(
    run: Annotated[str, typer.Argument(help="Run id, id prefix, commit prefix or name.")],
    path: Annotated[str, typer.Argument(help="Directory inside the run's artifacts.")] = "",
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="List every file below PATH.")
    ] = False,
    fmt: FormatOpt = "table",
) -> None:
    """List a run's artifacts (one level, or every file with --recursive)."""
    import dataclasses

    out.check_format(fmt)
    client, store = _open()
    rid = client.resolve(run)
    client.flush(rid)
    rows = [dataclasses.asdict(e) for e in store.listing(rid, path, recursive=recursive)]
    if fmt == "table":
        for row in rows:
            row["path"] += "/" if row["is_dir"] else ""
            row["size"] = out.human_size(row["size"])
            row["sha256"] = (row["sha256"] or "")[:12]
        typer.echo(out.render(rows, ["path", "size", "sha256", "stored"], fmt))
    else:
        typer.echo(out.render(rows, ["path", "is_dir", "size", "sha256", "stored"], fmt))


def get_cmd(
    run: Annotated[str, typer.Argument(help="Run id, id prefix, commit prefix or name.")],
    path: Annotated[str, typer.Argument(help="Artifact file or directory ('.' for all).")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Destination file or directory (default: ./<name>); '-' writes a file to stdout.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing files that differ.")
    ] = False,
) -> None:
    """Fetch an artifact (verified) into the working directory or DEST."""
    from gittrack.artifacts import paths

    client, store = _open()
    rid = client.resolve(run)
    client.flush(rid)
    base = paths.clean_path("" if path == "." else path, "artifact path", allow_empty=True)
    selected, entries = store.select(rid, base)
    is_file = len(entries) == 1 and entries[0].path == selected
    if output == "-":
        if not is_file:
            from gittrack.errors import ValidationError

            raise ValidationError(f"{path!r} is a directory; '-o -' writes one file to stdout")
        store.write_to(rid, entries[0], sys.stdout.buffer)
        return
    if output is None:
        dest = Path(base.rpartition("/")[2] or "artifacts")
    else:
        dest = Path(output)
        if is_file and dest.is_dir():
            dest = dest / base.rpartition("/")[2]
    written = store.restore(rid, base, dest, force=force)
    typer.echo(str(written))


def verify_cmd(
    run: Annotated[str | None, typer.Argument(help="Run to check (default: every run).")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Re-hash artifacts on this machine against their manifests; exit 1 if any is corrupt."""
    from gittrack.errors import CorruptArtifactError

    out.check_format(fmt)
    client, store = _open()
    if run is not None:
        run_ids = [client.resolve(run)]
        client.flush(run_ids[0])
    else:
        client.flush()
        run_ids = sorted(client.store.list_runs())
    results = store.verify(run_ids)
    rows = [
        {"run_id": r.run_id, "path": r.path, "status": r.status, "detail": r.detail}
        for r in results
    ]
    counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "missing", "corrupt")}
    if fmt == "table":
        bad = [dict(row, run_id=row["run_id"][:12]) for row in rows if row["status"] != "ok"]
        if bad:
            typer.echo(out.render(bad, ["run_id", "path", "status", "detail"], fmt))
        typer.echo(
            f"{counts['ok']} ok, {counts['missing']} not on this machine, "
            f"{counts['corrupt']} corrupt ({len(run_ids)} runs)"
        )
    else:
        typer.echo(out.render(rows, ["run_id", "path", "status", "detail"], fmt))
    if counts["corrupt"]:
        first = next(r for r in results if r.status == "corrupt")
        raise CorruptArtifactError(
            f"{counts['corrupt']} artifacts are corrupt, e.g. {first.path!r} of run "
            f"{first.run_id[:12]}; fetch them again from the artifact remote"
        )


def _run_ids(client: Client, runs: list[str] | None) -> list[str]:
    """The named runs' ids, or every run's."""
    return [client.resolve(r) for r in runs] if runs else sorted(client.store.list_runs())


def push_cmd(
    runs: Annotated[list[str] | None, typer.Argument(help="Runs (default: every run).")] = None,
    remote: Annotated[
        str | None,
        typer.Option(
            "--remote", help="Artifact remote URL (default: configured, else a path origin)."
        ),
    ] = None,
) -> None:
    """Upload the runs' large artifact objects the artifact remote (or path origin) lacks."""
    from gittrack.artifacts.transfer import push_artifacts

    client, _ = _open()
    run_ids = _run_ids(client, runs)
    client.flush()
    stats = push_artifacts(client.store, run_ids, remote)
    if stats.stayed_local:
        from gittrack.artifacts.remote import HOW_TO_CONFIGURE
        from gittrack.errors import ArtifactError

        raise ArtifactError(
            f"{out.human_size(stats.stayed_local)} of artifacts stay local: no artifact remote "
            f"is configured and origin is not a path git remote: {HOW_TO_CONFIGURE}"
        )
    extra = f", {stats.missing} not available locally" if stats.missing else ""
    typer.echo(f"uploaded {stats.objects} objects ({out.human_size(stats.bytes)}){extra}")


def fetch_cmd(
    runs: Annotated[list[str] | None, typer.Argument(help="Runs (default: every run).")] = None,
    remote: Annotated[
        str | None,
        typer.Option(
            "--remote", help="Artifact remote URL (default: configured, then path git remotes)."
        ),
    ] = None,
) -> None:
    """Download (and verify) the runs' artifact objects missing from the local cache."""
    from gittrack.artifacts.transfer import fetch_artifacts

    client, _ = _open()
    run_ids = _run_ids(client, runs)
    stats = fetch_artifacts(client.store, run_ids, remote)
    extra = f", {stats.missing} not on the remote" if stats.missing else ""
    typer.echo(f"downloaded {stats.objects} objects ({out.human_size(stats.bytes)}){extra}")


def gc_cmd(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete what would be freed.")] = False,
    min_age: Annotated[
        float | None,
        typer.Option(
            "--min-age",
            min=0,
            help="Keep unreferenced objects younger than this (seconds; default 3600).",
        ),
    ] = None,
) -> None:
    """Show (then, with --yes, delete) local artifact objects no run references.

    Removes no run: gittrack rm removes runs (rm --deleted the soft-deleted ones, as
    mlflow gc), and their artifacts become unreferenced here.
    """
    from gittrack.artifacts.gc import collect_garbage

    client, _ = _open()
    client.flush()
    given = {} if min_age is None else {"min_age": min_age}
    result = collect_garbage(client.store, delete=yes, **given)
    recent = f"; kept {result.kept_recent} younger than --min-age" if result.kept_recent else ""
    n, size = len(result.objects), out.human_size(result.bytes)
    if yes:
        typer.echo(f"deleted {n} unreferenced artifact objects, freed {size}{recent}")
    elif n:
        again = "" if min_age is None else f" --min-age {min_age:g}"
        typer.echo(
            f"{n} unreferenced artifact objects ({size}) can be freed{recent}; "
            f"run 'gittrack gc --yes{again}' to delete them"
        )
    else:
        typer.echo(f"nothing to free{recent}")


def register(app: typer.Typer) -> None:
    """Add the artifact commands to the CLI."""
    artifacts_app.command("ls")(ls_cmd)
    artifacts_app.command("get")(get_cmd)
    artifacts_app.command("verify")(verify_cmd)
    artifacts_app.command("push")(push_cmd)
    artifacts_app.command("fetch")(fetch_cmd)
    app.add_typer(artifacts_app)
    app.command("gc")(gc_cmd)
