"""Git access for gittrack: the only package that imports dulwich.

``GitStore`` writes objects and moves refs; ``refs`` reads and updates refs with
compare-and-swap; ``snapshot`` turns the working tree into a tree object. Dulwich and OS
errors are translated into :mod:`gittrack.errors` here, once.
"""

from gittrack.store.repo import (
    GitStore,
    TreeBuilder,
    common_dir_of,
    find_repository_root,
    init_bare_repository,
)

__all__ = [
    "GitStore",
    "TreeBuilder",
    "common_dir_of",
    "find_repository_root",
    "init_bare_repository",
]
