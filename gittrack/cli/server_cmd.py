"""``gittrack server``: serve MLflow's REST API (and the web UI) from this repository."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("server")(server_cmd)


def server_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (beyond loopback: use auth).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")
    ] = 5000,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Processes serving requests (pre-forked).")
    ] = 1,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Commit every write before answering it (always on with several workers).",
        ),
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the bearer token clients must send (MLFLOW_TRACKING_TOKEN); "
            "default: env GITTRACK_SERVER_TOKEN.",
        ),
    ] = None,
    basic_auth_file: Annotated[
        Path | None,
        typer.Option(
            "--basic-auth-file",
            help="File holding 'user:password' for HTTP basic auth (MLFLOW_TRACKING_USERNAME/"
            "PASSWORD); default: env GITTRACK_SERVER_USERNAME and GITTRACK_SERVER_PASSWORD.",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header value to accept (repeat); default: the names of the bound address.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No access log.")] = False,
) -> None:
    """Serve MLflow's REST API (MLFLOW_TRACKING_URI=http://HOST:PORT logs into git) and,
    when gittrack[ui] is installed, the web UI at /."""
    import secrets

    from gittrack.config import find_tracking_root
    from gittrack.errors import GittrackError
    from gittrack.server.auth import load_credentials
    from gittrack.ui import missing_requirements
    from gittrack.web.app import build_router
    from gittrack.web.serve import WebServer, is_loopback, serve

    if workers < 1:
        raise GittrackError(f"--workers must be at least 1, not {workers}")
    credentials = load_credentials(token_file, basic_auth_file)
    root = find_tracking_root(create=True)
    token = secrets.token_urlsafe(24)
    with_ui = not missing_requirements()
    router = build_router(root, token, ui=with_ui, sync_writes=sync or workers > 1)
    try:
        server = WebServer(
            (host, port),
            router,
            token=token,
            authenticate=credentials.authenticator(),
            allowed_hosts=allowed_host or None,
            access_log=None if quiet else sys.stderr,
        )
    except OSError as e:
        raise GittrackError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    if not is_loopback(host) and not credentials.enabled:
        print(
            f"gittrack: warning: serving on {host} without authentication: anyone who can "
            "reach this address can read and change runs (use --token-file or "
            "--basic-auth-file)",
            file=sys.stderr,
            flush=True,
        )

    def ready(url: str) -> None:
        page = f", web UI at {url}/" if with_ui else ""
        print(
            f"gittrack server: {root} at {url} (MLFLOW_TRACKING_URI={url}{page}, "
            f"{workers} worker{'s' if workers > 1 else ''})",
            flush=True,
        )

    serve(server, workers=workers, on_ready=ready)
