"""``gittrack ui``: serve the web UI of the current repository and open it in a browser."""

from __future__ import annotations

from typing import Annotated

import typer

from gittrack.errors import GittrackError

DEFAULT_PORT = 8765


def ui_cmd(
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on (0: any).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: this machine only).")
    ] = "127.0.0.1",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL but do not open a browser.")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Print one line per request on stderr.")
    ] = False,
) -> None:
    """Browse, chart and compare runs in a local web page (Ctrl-C stops it)."""
    import secrets
    import sys
    import threading

    from gittrack.session import open_index
    from gittrack.ui import missing_requirements, warm_up

    missing = missing_requirements()
    if missing:
        raise GittrackError(
            f"gittrack ui needs {' and '.join(missing)}: pip install 'gittrack[ui]'"
        )
    from gittrack.query.page import experiment_summaries, page_runs, run_keys

    with open_index() as index:  # no repository: one clear error
        root = index.root
        # what the first paint asks for, computed before the URL is printed
        page_runs(index)
        run_keys(index)
        experiment_summaries(index)
    from gittrack.web.app import build_router
    from gittrack.web.serve import WebServer, is_loopback, serve

    token = secrets.token_urlsafe(24)
    try:
        server = WebServer(
            (host, port),
            build_router(root, token),
            token=token,
            access_log=sys.stderr if access_log else None,
        )
    except OSError as e:
        raise GittrackError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    if not is_loopback(host):  # reachable from elsewhere: answer to the name it was given
        server.allowed_hosts = {host.lower(), f"{host.lower()}:{server.server_address[1]}"}

    def ready(url: str) -> None:
        # the first chart's request needs numpy and pyarrow (0.15-0.2 s to import): they
        # are imported while the browser opens the page
        threading.Thread(target=warm_up, name="gittrack-ui-warm-up", daemon=True).start()
        typer.echo(f"gittrack ui: {url}/  (repository {root}; Ctrl-C stops)")
        if not no_browser:
            import webbrowser

            webbrowser.open(url + "/")

    serve(server, on_ready=ready)


def register(app: typer.Typer) -> None:
    """Add ``gittrack ui`` to the CLI."""
    app.command("ui")(ui_cmd)
