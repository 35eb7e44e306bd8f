"""``python -m gittrack``: the ``gittrack`` command, for when its script is not on PATH."""

from gittrack.cli import main

main()
