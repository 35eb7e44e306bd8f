"""The ``gittrack`` / ``git-track`` command line: a thin shell over the library.

The only package that imports typer. Every command module registers itself on the one
``app``; :func:`main` is the error funnel: a :class:`GittrackError` prints one line on
stderr and exits with its code (1), usage errors exit 2, ``--debug`` or
``GITTRACK_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

from gittrack.errors import GittrackError


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("GITTRACK_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gittrack`` and ``git-track`` commands (``argv``: run these
    arguments in this process, as tests do, instead of the program's own)."""
    if argv is not None:
        _main(list(argv))
        return
    try:
        _main(sys.argv[1:])
    finally:
        # The process ends with the command. At interpreter exit CPython runs full
        # collections over every object still alive (typer's, dulwich's, the modules'):
        # about 20 ms after `gittrack show`. Frozen, they are left to the OS; exit
        # handlers (flushing writers, closing stores) run as before.
        import gc

        gc.freeze()


def _main(args: list[str]) -> None:
    if args == ["--version"]:  # the commonest probe, answered before typer loads
        from gittrack._version import version_line

        print(version_line())
        return
    debug = _debug_requested(args)
    if "--debug" in args:
        args.remove("--debug")
    from gittrack.gcpause import collector_paused

    try:
        # Importing typer and building the command makes tens of thousands of objects and
        # no garbage: the collector would walk them again and again (50 young passes).
        with collector_paused(settle=True):
            from gittrack.cli.app import app_for

            application = app_for(args)
        code = application(args=args, prog_name="gittrack", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)  # typer.Exit(n) comes back as a return value here
    except GittrackError as e:
        if debug:
            raise
        print(f"gittrack: error: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("gittrack: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error for the user.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except Exception as e:
        import typer

        # typer vendors click (typer._click): its usage errors derive from TyperException.
        if isinstance(e, typer.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, typer.TyperException):
            if debug:
                raise
            e.show()  # type: ignore[attr-defined,unused-ignore]
            sys.exit(e.exit_code)  # type: ignore[attr-defined,unused-ignore]
        if isinstance(e, typer.Abort):
            print("gittrack: aborted", file=sys.stderr)
            sys.exit(1)
        if debug:
            raise
        print(
            f"gittrack: internal error: {type(e).__name__}: {e} (rerun with --debug)",
            file=sys.stderr,
        )
        sys.exit(3)
