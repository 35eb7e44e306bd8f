"""The package version (read by pyproject and by ``gittrack --version``)."""

__version__ = "0.1.0"


def version_line() -> str:
    """What ``gittrack --version`` prints."""
    return f"gittrack {__version__}"
