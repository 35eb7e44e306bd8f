"""Running the CLI in-process: `ok` for commands that must succeed, `fails` for the funnel."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gittrack.cli import main
from gittrack.cli.app import app

runner = CliRunner()


def ok(*args: str) -> str:
    """Invoke a command that must exit 0; return its output."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def fails(capsys: pytest.CaptureFixture[str], *args: str, code: int = 1) -> str:
    """Run through the error funnel; return the single stderr line."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == code
    err = capsys.readouterr().err
    if code == 1:
        assert err.startswith("gittrack: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err
