"""The package version (read by pyproject and by ``gittrack --version``)."""

__version__ = "0.1.0"
