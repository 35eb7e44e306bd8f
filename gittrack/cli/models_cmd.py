"""``gittrack models ...``: register, list, show, alias, rm and serve models."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gittrack.query.views import iso_utc

models_app = typer.Typer(
    name="models",
    help="Registered models: versions and aliases in git refs, and serving.",
    no_args_is_help=True,
)

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]


def _runs() -> Any:
    from gittrack.session import open_repository

    return open_repository(create=False)


def _parse_when(text: str) -> int:
    """``2026-11-20`` (end of that day, UTC) or an ISO datetime -> epoch ms."""
    from datetime import datetime, timedelta, timezone

    from gittrack.errors import ValidationError

    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return int((day + timedelta(days=1)).timestamp() * 1000) - 1
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValidationError(f"--at {text!r} is not a date (use 2026-11-20 or ISO time)") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


@models_app.command("register")
def register_cmd(
    source: Annotated[str, typer.Argument(help="RUN[:path] or runs:/<run>/<path> (path: model).")],
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Note for this version.")
    ] = None,
) -> None:
    """Create the next version of NAME from the model a run logged."""
    from gittrack.models import registry
    from gittrack.models.uri import parse_run_source

    run, path = parse_run_source(source)
    mv = registry.register(_runs(), run, name, path, description=description)
    typer.echo(f"registered {mv.name} version {mv.version} ({mv.source})")


@models_app.command("list")
def list_cmd(fmt: FormatOption = "table") -> None:
    """List registered models with their latest version and aliases."""
    from gittrack.cli import render as out
    from gittrack.models import registry

    out.check_format(fmt)
    models = registry.list_models(_runs())
    if fmt == "json":
        typer.echo(
            out.to_json(
                [
                    {
                        "name": m.name,
                        "versions": m.versions,
                        "latest": m.latest,
                        "aliases": m.aliases,
                    }
                    for m in models
                ]
            )
        )
        return
    rows = [
        {
            "name": m.name,
            "latest": m.latest,
            "versions": len(m.versions),
            "aliases": " ".join(f"@{a}={v}" for a, v in sorted(m.aliases.items())),
        }
        for m in models
    ]
    if not rows and fmt == "table":
        typer.echo("no registered models", err=True)
        return
    typer.echo(out.render(rows, ["name", "latest", "versions", "aliases"], fmt))


@models_app.command("show")
def show_cmd(
    name: Annotated[
        str, typer.Argument(help="NAME, NAME/VERSION or NAME@ALIAS (NAME/ when NAME holds @).")
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="With NAME@ALIAS: the version it named then (date or time)."),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Show a model's versions and aliases (or one version, or an alias's history)."""
    from gittrack.cli import render as out
    from gittrack.models import registry
    from gittrack.models.uri import parse_model_name

    out.check_format(fmt)
    runs = _runs()
    model, version_text, alias = parse_model_name(name)
    if at is not None and alias is None:
        raise _error(f"--at needs NAME@ALIAS (the version an alias named then), not {name!r}")
    if alias is not None:
        when = _parse_when(at) if at is not None else None
        registry.get_version(runs, model, "latest")  # unknown model -> clear error
        events = registry.alias_history(runs, model, alias)
        if not events:
            raise _error(f"model {model!r} has no alias @{alias}")
        if when is not None:
            version = registry.alias_at(runs, model, alias, when)
            if fmt == "json":
                typer.echo(
                    out.to_json({"name": model, "alias": alias, "at": at, "version": version})
                )
            else:
                shown = version if version is not None else "(not set)"
                typer.echo(f"{model}@{alias} at {at}: {shown}")
            return
        rows = [
            {"set_at": iso_utc(e.set_at), "version": e.version, "set_by": e.set_by} for e in events
        ]
        typer.echo(
            out.to_json(rows)
            if fmt == "json"
            else out.render(rows, ["set_at", "version", "set_by"], fmt)
        )
        return
    versions = (
        [registry.get_version(runs, model, version_text)]
        if version_text
        else registry.list_versions(runs, model)
    )
    aliases = next((m.aliases for m in registry.list_models(runs) if m.name == model), {})
    rows = [
        {
            "version": v.version,
            "aliases": " ".join(f"@{a}" for a, n in sorted(aliases.items()) if n == v.version),
            "source": v.source,
            "created": iso_utc(v.created),
            "created_by": v.created_by,
            "stage": v.stage,
            "description": v.description or "",
        }
        for v in versions
    ]
    if fmt == "json":
        typer.echo(out.to_json(rows))
        return
    columns = ["version", "aliases", "stage", "source", "created", "description"]
    typer.echo(out.render(rows, columns, fmt))


def _error(message: str) -> Exception:
    from gittrack.errors import ModelError

    return ModelError(message)


@models_app.command("alias")
def alias_cmd(
    target: Annotated[str, typer.Argument(help="NAME@ALIAS to move.")],
    version: Annotated[str, typer.Argument(help="The version it should name (or 'latest').")],
) -> None:
    """Point NAME@ALIAS at VERSION (atomic; the previous target stays in its history)."""
    from gittrack.errors import ValidationError
    from gittrack.models import registry
    from gittrack.models.uri import parse_model_name

    name, _, alias = parse_model_name(target)
    if not name or not alias:
        raise ValidationError(f"{target!r} is not NAME@ALIAS (e.g. churn@prod)")
    event = registry.set_alias(_runs(), name, alias, version)
    typer.echo(f"{name}@{alias} -> version {event.version}")


@models_app.command("stage")
def stage_cmd(
    target: Annotated[str, typer.Argument(help="NAME/VERSION to move.")],
    stage: Annotated[str, typer.Argument(help="None, Staging, Production or Archived.")],
    archive_existing: Annotated[
        bool,
        typer.Option(
            "--archive-existing", help="Archive the other versions in that stage (MLflow's)."
        ),
    ] = False,
) -> None:
    """Move a version to an MLflow stage (MLflow clients still read stages)."""
    from gittrack.errors import ValidationError
    from gittrack.models import registry
    from gittrack.models.uri import parse_model_name

    name, version, _ = parse_model_name(target)
    if not name or not version:
        raise ValidationError(f"{target!r} is not NAME/VERSION (e.g. churn/3)")
    mv = registry.transition_stage(_runs(), name, version, stage, archive_existing=archive_existing)
    typer.echo(f"{name} version {mv.version} -> {mv.stage}")


@models_app.command("rename")
def rename_cmd(
    name: Annotated[str, typer.Argument(help="The registered model's name.")],
    new_name: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename a registered model (versions, stages, aliases and tags move with it)."""
    from gittrack.models import registry

    registry.rename_model(_runs(), name, new_name)
    typer.echo(f"renamed model {name} to {new_name}")


@models_app.command("rm")
def rm_cmd(
    target: Annotated[
        str, typer.Argument(help="NAME, NAME/VERSION or NAME@ALIAS (NAME/ when NAME holds @).")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove a whole model without asking.")
    ] = False,
) -> None:
    """Remove a version, an alias, or (with --yes) a whole model."""
    from gittrack.errors import ValidationError
    from gittrack.models import registry
    from gittrack.models.uri import parse_model_name

    runs = _runs()
    name, version, alias = parse_model_name(target)
    if alias is not None:
        registry.delete_alias(runs, name, alias)
        typer.echo(f"removed alias {name}@{alias}")
    elif version:
        registry.delete_version(runs, name, version)
        typer.echo(f"removed {name} version {version}")
    else:
        if not yes:
            raise ValidationError(
                f"removing every version of {name!r} needs --yes (or give {name}/VERSION)"
            )
        count = registry.delete_model(runs, name)
        typer.echo(f"removed model {name} ({count} refs)")


@models_app.command("serve")
def serve_cmd(
    model_uri: Annotated[
        str,
        typer.Option("--model-uri", "-m", help="models:/NAME@ALIAS, models:/NAME/N, runs:/, path."),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")
    ] = 5000,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Processes serving requests.")
    ] = 1,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load a model another user or host logged (runs its code)."),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="Write a line per request on stderr."),
    ] = True,
) -> None:
    """Serve a model with MLflow's scoring protocol (POST /invocations, GET /ping)."""
    from gittrack.models.api import load_model
    from gittrack.web.scoring import scoring_server
    from gittrack.web.serve import serve

    if workers < 1:
        raise _error(f"--workers must be at least 1, not {workers}")
    model = load_model(model_uri, trust=True if trust else None)
    try:
        server = scoring_server(model, host, port, access_log=access_log)
    except OSError as e:
        raise _error(f"cannot listen on {host}:{port}: {e.strerror or e}") from e

    def ready(url: str) -> None:
        typer.echo(
            f"serving {model_uri} on {url} "
            f"({workers} worker{'s' if workers != 1 else ''}); Ctrl-C stops",
            err=True,
        )

    serve(server, workers=workers, on_ready=ready)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to the CLI."""
    app.add_typer(models_app, name="models")
