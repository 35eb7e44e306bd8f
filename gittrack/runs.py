"""Runs in the repository: write a run's state as a commit, read it back, find it, delete it.

A run is one ref ``refs/gittrack/runs/<run_id>`` pointing at a commit whose parent is the
code commit the run started from and whose tree is the code snapshot plus the run folder
(see :mod:`gittrack.format`). Every update writes a fresh commit and moves the ref with
compare-and-swap, so a run's ref always names a complete state. A state that is not
RUNNING is never dropped: the commit written over it lists it as an extra parent (an
*earlier state*), so every hash a finished run ever had stays reachable from its ref and
resolves to the run (docs/format.md, "Run hashes").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gittrack import format as fmt
from gittrack.config import Settings, load_settings
from gittrack.errors import (
    AmbiguousRunError,
    CorruptRunError,
    RepositoryError,
    RunNotFoundError,
)
from gittrack.naming import HEX_DIGITS, is_run_id
from gittrack.store import GitStore, TreeBuilder, find_repository_root
from gittrack.store.refs import RefConflict
from gittrack.store.repo import MODE_FILE, MODE_TREE, Identity

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.history import DecodedMetrics

__all__ = ["LoadedRun", "RefConflict", "RunStore", "kept_after", "resolve_run_ref"]

_HEX = frozenset(HEX_DIGITS)
MIN_PREFIX = 4  # shortest hex prefix taken as an id or commit prefix
BATCH_READS = 8  # from this many runs on, metrics are read through one git cat-file
T = TypeVar("T")


@dataclass(frozen=True)
class LoadedRun:
    """A run as stored at one commit."""

    commit: str
    record: fmt.RunRecord
    code_entries: dict[bytes, tuple[int, str]]
    parent: str | None  # the code commit the run started from
    run_files: dict[str, tuple[int, str]]
    earlier: tuple[str, ...] = ()  # earlier states of the run this commit keeps as parents

    @property
    def kept_by_next(self) -> tuple[str, ...]:
        """The earlier states a commit written over this one lists (see :func:`kept_after`)."""
        return kept_after(self.commit, self.record.status, self.earlier)


def kept_after(commit: str, status: str, earlier: tuple[str, ...]) -> tuple[str, ...]:
    """The earlier states a new state written over ``commit`` keeps as parents: ``commit``
    itself unless it was RUNNING (a RUNNING state is replaced by the next flush), else the
    states ``commit`` kept."""
    return earlier if status == "RUNNING" else (commit,)


def _fsync_setting(git: GitStore) -> bool:
    return load_settings(git).fsync


class RunStore:
    """The runs of one tracking repository."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Open the repository at (or enclosing) ``root``; find it with
        :func:`gittrack.config.find_tracking_root`, or use :mod:`gittrack.session`."""
        found = find_repository_root(Path(root))
        if found is None:
            raise RepositoryError(f"{root} is not inside a git repository")
        self.root: Path = found
        # Settings are read from git config when first needed: a command that only reads
        # runs never parses the config files.
        self._settings: Settings | None = None
        self.git = GitStore(self.root, fsync=_fsync_setting)
        self._identity: Identity | None = None
        # Set by the session: writes what this process buffered for a run (None: all runs)
        # before the run is read, so a process always reads its own writes.
        self.before_read: Callable[[str | None], None] | None = None
        # Set by the session: ``{run_id: name}`` of a ``{run_id: commit}`` listing through
        # the local index; None reads each run's commit.
        self.name_lookup: Callable[[dict[str, str]], dict[str, str]] | None = None
        # Set by the session: ids of the runs (of a ``{run_id: commit}`` listing) with a
        # state whose hash starts with a prefix, through the local index.
        self.state_lookup: Callable[[str, dict[str, str]], set[str]] | None = None
        # Set by the session: whether this process writes the run with this full id (it
        # may not be written yet: see RunWriter)
        self.live_lookup: Callable[[str], bool] | None = None
        self._metrics_blobs: dict[str, str | None] = {}  # commit -> its metrics.parquet

    def close(self) -> None:
        self.git.close()

    @property
    def settings(self) -> Settings:
        """The repository's settings (``GITTRACK_*`` variables, ``gittrack.*`` config)."""
        if self._settings is None:
            self._settings = load_settings(self.git)
        return self._settings

    # -- identity --------------------------------------------------------------------
    @property
    def identity(self) -> Identity:
        """Author of run commits: git's user.name/user.email, else user@host."""
        if self._identity is None:
            from gittrack.environment import current_host, current_user

            name = os.environ.get("GIT_AUTHOR_NAME") or self.git.config_value("user", "name")
            email = os.environ.get("GIT_AUTHOR_EMAIL") or self.git.config_value("user", "email")
            user = current_user()
            self._identity = Identity(
                name=(name or user).replace("<", "").replace(">", "").strip() or "gittrack",
                email=(email or f"{user}@{current_host()}").replace("<", "").replace(">", ""),
            )
        return self._identity

    # -- writing ---------------------------------------------------------------------
    def write_commit(
        self,
        record: fmt.RunRecord,
        *,
        code_entries: dict[bytes, tuple[int, str]],
        parent: str | None,
        extra_files: dict[str, tuple[int, str]],
        earlier: tuple[str, ...] = (),
    ) -> str:
        """Write the run folder and a commit for ``record``; return the commit sha.

        ``extra_files`` are run-folder entries already stored as blobs (metrics.parquet,
        environment.yaml, inline artifacts under ``artifacts/``); ``earlier`` the earlier
        states of the run the commit keeps as parents after the code commit.
        """
        tree = self.write_tree(record, code_entries=code_entries, extra_files=extra_files)
        return self.commit_tree(record, tree, parent, earlier)

    def write_tree(
        self,
        record: fmt.RunRecord,
        *,
        code_entries: dict[bytes, tuple[int, str]],
        extra_files: dict[str, tuple[int, str]],
    ) -> str:
        """Write the root tree of a run commit (code snapshot plus run folder)."""
        git = self.git
        files = {
            name: (MODE_FILE, git.write_blob(data))
            for name, data in fmt.record_files(record).items()
        }
        files.update(extra_files)
        run_tree = TreeBuilder(git).write(files)
        root = dict(code_entries)
        gittrack_dir = b".gittrack"
        existing = root.get(gittrack_dir)
        gt_entries: dict[bytes, tuple[int, str]] = {}
        if existing is not None and existing[0] == MODE_TREE:
            gt_entries = git.read_tree(existing[1])
        gt_entries[b"run"] = (MODE_TREE, run_tree)
        root[gittrack_dir] = (MODE_TREE, git.write_tree(gt_entries))
        return git.write_tree(root)

    def commit_tree(
        self,
        record: fmt.RunRecord,
        tree: str,
        parent: str | None,
        earlier: tuple[str, ...] = (),
    ) -> str:
        """Write the commit of ``record`` holding ``tree``; return its sha.

        Parents: the code commit ``parent`` (when there is one), then ``earlier``."""
        now = int(time.time())
        return self.git.write_commit(
            tree=tree,
            parents=([parent] if parent else []) + [e for e in earlier if e != parent],
            author=self.identity,
            author_time=record.start_time // 1000,
            commit_time=max(now, record.start_time // 1000),
            message=fmt.commit_message(record),
        )

    def publish(self, run_id: str, commit: str, expected: str | None) -> None:
        """Move the run's ref to ``commit`` if it still holds ``expected`` (else RefConflict)."""
        self.git.update_ref(fmt.ref_name(run_id), commit, expected)

    # -- reading ---------------------------------------------------------------------
    def list_runs(self) -> dict[str, str]:
        """``{run_id: commit}`` for every run ref in the repository."""
        if self.before_read is not None:
            self.before_read(None)
        prefix = fmt.REF_PREFIX
        return {
            name[len(prefix) :]: sha
            for name, sha in self.git.list_refs(prefix).items()
            if "/" not in name[len(prefix) :]
        }

    def run_commit(self, run_id: str) -> str:
        if self.before_read is not None:
            self.before_read(run_id)
        sha = self.git.read_ref(fmt.ref_name(run_id))
        if sha is None:
            raise RunNotFoundError(f"no run with id {run_id!r}")
        return sha

    def load_commit(self, commit: str, *, what: str | None = None) -> LoadedRun:
        """Read the run stored at ``commit`` (files of the run folder, code root, parent)."""
        what = what or f"run commit {commit[:12]}"
        git = self.git
        try:
            obj = git.read_commit(commit)
        except CorruptRunError as e:  # e.g. a ref under refs/gittrack/runs/ naming a blob
            raise CorruptRunError(f"{what}: {e.message} (not a gittrack run)") from e
        root = git.read_tree(obj.tree.decode("ascii"))
        gt = root.get(b".gittrack")
        run_dir = git.read_tree(gt[1]).get(b"run") if gt and gt[0] == MODE_TREE else None
        if run_dir is None or run_dir[0] != MODE_TREE:
            raise CorruptRunError(f"{what} has no {fmt.RUN_DIR} folder (not a gittrack run)")
        run_files = {
            name.decode("utf-8", "replace"): entry
            for name, entry in git.read_tree(run_dir[1]).items()
        }
        texts: dict[str, bytes] = {}
        for name in (
            fmt.RUN_FILE,
            fmt.PARAMS_FILE,
            fmt.TAGS_FILE,
            fmt.ARTIFACTS_FILE,
            fmt.INPUTS_FILE,
            fmt.ENVIRONMENT_FILE,
        ):
            entry = run_files.get(name)
            if entry is not None:
                texts[name] = git.read_blob(entry[1])
        record = fmt.parse_record(texts, what)
        parent, earlier = self.split_parents(obj, record.run_id)
        return LoadedRun(
            commit=commit,
            record=record,
            code_entries={k: v for k, v in root.items() if k != b".gittrack"}
            | (self._user_gittrack(root, git)),
            parent=parent,
            run_files=run_files,
            earlier=earlier,
        )

    # -- the states of a run ----------------------------------------------------------
    def split_parents(self, obj: Any, run_id: str) -> tuple[str | None, tuple[str, ...]]:
        """``(code commit, earlier states)`` of a run commit (a dulwich ``Commit``).

        Parents after the first are earlier states; the first is one too when its message
        names the same run (a run without a code commit), else it is the code commit.
        """
        parents = [p.decode("ascii") for p in obj.parents]
        if not parents:
            return None, ()
        if self._state_of(parents[0]) == run_id:
            return None, tuple(parents)
        return parents[0], tuple(parents[1:])

    def _state_of(self, commit: str) -> str | None:
        """The run id ``commit``'s message names, or None (a code commit, or missing)."""
        try:
            obj = self.git.read_commit(commit)
        except CorruptRunError:
            return None
        return run_id_of_message(obj.message)

    def states(self, commit: str, run_id: str, known: Set[str] = frozenset()) -> list[str]:
        """``commit`` and every earlier state reachable from it, stopping at ``known``
        (states already listed, whose earlier states are listed too)."""
        found: list[str] = []
        seen = set(known)
        todo = [commit]
        while todo:
            sha = todo.pop()
            if sha in seen:
                continue
            seen.add(sha)
            found.append(sha)
            try:
                obj = self.git.read_commit(sha)
            except CorruptRunError:  # pruned or never fetched: nothing older to follow
                continue
            if run_id_of_message(obj.message) == run_id:  # never into foreign history
                todo.extend(self.split_parents(obj, run_id)[1])
        return found

    def kept_by_next(self, commit: str) -> tuple[str, ...]:
        """What a state written over ``commit`` keeps (:func:`kept_after`), read from the
        commit alone (its status trailer and parents)."""
        obj = self.git.read_commit(commit)
        run_id = run_id_of_message(obj.message) or ""
        return kept_after(
            commit, status_of_message(obj.message), self.split_parents(obj, run_id)[1]
        )

    def runs_with_state(self, prefix: str, runs: Mapping[str, str]) -> set[str]:
        """Ids of ``runs`` (``{run_id: commit}``) with a state whose hash starts with
        ``prefix``: through the index when the session set it, else by walking every run."""
        if self.state_lookup is not None:
            found = self.state_lookup(prefix, dict(runs))
        else:
            found = {
                rid
                for rid, sha in runs.items()
                if any(s.startswith(prefix) for s in self.states(sha, rid))
            }
        return found or self.replaced_states(prefix, runs)

    def replaced_states(self, prefix: str, runs: Mapping[str, str]) -> set[str]:
        """Ids of ``runs`` with a commit starting with ``prefix`` that is still in this
        clone's objects though no ref keeps it (a RUNNING state a later flush replaced;
        it lasts until ``git gc`` prunes it)."""
        found: set[str] = set()
        for sha in self.git.objects_with_prefix(prefix):
            try:
                rid = run_id_of_message(self.git.read_commit(sha).message)
            except CorruptRunError:  # not a commit
                continue
            if rid is not None and rid in runs:
                found.add(rid)
        return found

    @staticmethod
    def _user_gittrack(
        root: dict[bytes, tuple[int, str]], git: GitStore
    ) -> dict[bytes, tuple[int, str]]:
        """Keep a user's own ``.gittrack/`` files (other than ``run/``) in the code tree."""
        gt = root.get(b".gittrack")
        if gt is None or gt[0] != MODE_TREE:
            return {}
        rest = {k: v for k, v in git.read_tree(gt[1]).items() if k != b"run"}
        return {b".gittrack": (MODE_TREE, git.write_tree(rest))} if rest else {}

    def load(self, run_id: str) -> LoadedRun:
        """Read the current state of a run by its full id."""
        return self.load_commit(self.run_commit(run_id), what=f"run {run_id}")

    def read_metrics(self, loaded: LoadedRun) -> pa.Table | None:
        """The run's metric history as a table, or None when it logged no metric."""
        entry = loaded.run_files.get(fmt.METRICS_FILE)
        if entry is None:
            return None
        return self._decoded(entry[1], f"run {loaded.record.run_id}").table

    def metric_history(self, run_id: str) -> DecodedMetrics | None:
        """The decoded metric history of a run's current state (None: no metric logged).

        Reads no YAML: the ref, the commit and three trees lead to ``metrics.parquet``,
        which is decoded once per process (:mod:`gittrack.history`).
        """
        commit = self.run_commit(run_id)
        blob = self._metrics_blobs.get(commit, "")
        if blob == "":
            tree = self.git.read_commit(commit).tree.decode("ascii")
            entry = self.git.lookup_path(tree, f"{fmt.RUN_DIR}/{fmt.METRICS_FILE}")
            blob = None if entry is None or entry[0] == MODE_TREE else entry[1]
            if len(self._metrics_blobs) >= 4096:
                self._metrics_blobs.clear()
            self._metrics_blobs[commit] = blob
        return None if blob is None else self._decoded(blob, f"run {run_id}")

    def _decoded(self, blob: str, what: str) -> DecodedMetrics:
        from gittrack.history import decoded_metrics

        return decoded_metrics(blob, self.git.read_blob, what)

    def map_metrics_at(
        self,
        commits: list[str],
        use: Callable[[str, pa.Table | None], T],
        *,
        workers: int = 1,
    ) -> list[T]:
        """``use(commit, history)`` for the runs stored at ``commits``, in order (history
        None: no metric logged). Each history is decoded, handed to ``use`` and dropped,
        on up to ``workers`` threads (Parquet decoding and numpy release the GIL), so at
        most ``workers`` histories are held at once, whatever the number of runs. Many
        runs are read through one ``git cat-file``; fewer (or all, when git is not
        installed) a run at a time through the decoded-history cache, which keeps a
        bounded number itself (:mod:`gittrack.history`)."""
        from gittrack.store import catfile

        if len(commits) < BATCH_READS or not catfile.available():
            # dulwich reads stay on this thread (the caller holds the store's lock)
            loads: Iterator[Callable[[], pa.Table | None]] = (
                partial(_given, self.read_metrics(self.load_commit(c))) for c in commits
            )
            return _bounded_map(commits, loads, use, workers)
        path = f"{fmt.RUN_DIR}/{fmt.METRICS_FILE}"
        specs = [f"{c}:{path}" for c in commits]
        with closing(catfile.iter_objects(self.git.common_dir, specs, b"blob")) as blobs:
            loads = (
                partial(_decoded_blob, data, f"run commit {c[:12]}")
                for c, data in zip(commits, blobs, strict=True)
            )
            return _bounded_map(commits, loads, use, workers)

    # -- finding ---------------------------------------------------------------------
    def resolve(self, text: str) -> str:
        """Turn a run reference into a run id (the rule: :func:`resolve_run_ref`)."""
        ref = text.strip().lower()
        live = self.live_lookup
        if is_run_id(ref) and (
            (live is not None and live(ref)) or self.git.read_ref(fmt.ref_name(ref))
        ):
            return ref  # a full run id: no need to list every run
        runs = self.list_runs()
        return resolve_run_ref(
            text,
            runs,
            lambda: self.run_names(runs),
            lambda prefix: self.runs_with_state(prefix, runs),
        )

    def run_names(self, runs: dict[str, str]) -> dict[str, str]:
        """``{run_id: name}`` of ``runs`` (``{run_id: commit}``); unreadable runs left out."""
        if self.name_lookup is not None:
            return self.name_lookup(runs)
        names = {}
        for rid, sha in runs.items():
            try:
                names[rid] = self.load_commit(sha).record.name
            except CorruptRunError:
                continue
        return names

    # -- deleting --------------------------------------------------------------------
    def delete(self, run_id: str) -> None:
        """Remove a run's ref (its objects go at the next ``git gc``)."""
        sha = self.run_commit(run_id)
        self.git.delete_ref(fmt.ref_name(run_id), sha)


def run_id_of_message(message: bytes) -> str | None:
    """The run id in a commit message's ``Gittrack-Run-Id`` trailer, or None."""
    return _trailer(message, fmt.TRAILER_RUN_ID)


def status_of_message(message: bytes) -> str:
    """The status in a run commit message's ``Gittrack-Status`` trailer ("" when none)."""
    return _trailer(message, fmt.TRAILER_STATUS) or ""


def _trailer(message: bytes, key: str) -> str | None:
    head = key.encode("ascii") + b": "
    for line in reversed(message.splitlines()):
        if line.startswith(head):
            return line[len(head) :].strip().decode("utf-8", "replace")
    return None


def resolve_run_ref(
    text: str,
    runs: Mapping[str, str],
    names: Callable[[], Mapping[str, str]],
    states: Callable[[str], Iterable[str]] | None = None,
) -> str:
    """The one rule that turns a run reference into a run id (docs/format.md).

    ``runs`` is ``{run_id: commit}`` of every run, ``names`` gives ``{run_id: name}`` of
    the readable ones (only asked for when needed), ``states`` (optional) the ids of runs
    with a state, current or earlier, whose hash starts with a lowercase hex prefix. A
    caller may narrow ``runs`` to the runs whose id starts with the text when there are
    any (they decide), and ``names`` to the runs that can match (step 3) plus those of
    ``runs``. In order, the first step that matches anything decides:

    1. hex text of 4 or more characters (any case) that starts run ids: the run whose id
       it starts; several such runs are ambiguous;
    2. the same text starting commit hashes: the run with a state (its current commit or
       any earlier state it keeps; when no run has one, a replaced RUNNING state still in
       this clone's objects) whose hash it starts; several runs are ambiguous;
    3. the exact run name: the run with that name (as given, else trimmed, so a name
       with leading or trailing spaces can be named); several are ambiguous.

    Nothing matching is :class:`RunNotFoundError`; ambiguity is
    :class:`AmbiguousRunError` listing the candidates.
    """
    ref = text.strip()
    if not ref:
        raise RunNotFoundError("an empty run reference matches nothing (give a run id or name)")
    lower = ref.lower()
    matches: list[str] = []
    if len(lower) >= MIN_PREFIX and set(lower) <= _HEX:
        matches = sorted(rid for rid in runs if rid.startswith(lower))
        if not matches:
            found = {rid for rid, sha in runs.items() if sha.startswith(lower)}
            if states is not None:
                found.update(rid for rid in states(lower) if rid in runs)
            matches = sorted(found)
    known: Mapping[str, str] | None = None
    if not matches:
        known = names()
        matches = sorted(rid for rid, name in known.items() if name == text) or sorted(
            rid for rid, name in known.items() if name == ref
        )
    if not matches:
        hint = (  # a whole id: perhaps a run another process has not flushed yet
            "no run has this id yet: a run another process has just started is written "
            "at its first flush"
            if is_run_id(lower)
            else "give a run id or commit prefix, or a run name"
        )
        raise RunNotFoundError(f"no run matches {ref!r} ({hint}; see 'gittrack list')")
    if len(matches) > 1:
        known = names() if known is None else known
        shown = ", ".join(f"{rid[:8]} ({known.get(rid) or '?'})" for rid in matches[:5])
        more = ", ..." if len(matches) > 5 else ""
        raise AmbiguousRunError(
            f"{ref!r} is ambiguous: {len(matches)} runs match: {shown}{more}; "
            "use more characters of the id",
            tuple(matches),
        )
    return matches[0]


def _given(table: pa.Table | None) -> pa.Table | None:
    return table


def _decoded_blob(data: bytes | None, what: str) -> pa.Table | None:
    return None if data is None else fmt.read_metrics(data, what)


def _bounded_map(
    commits: list[str],
    loads: Iterator[Callable[[], pa.Table | None]],
    use: Callable[[str, pa.Table | None], T],
    workers: int,
) -> list[T]:
    """``use(commit, load())`` for each pair, in order, with at most ``workers`` running
    at once; ``loads`` (reading git) is advanced one ahead of the workers, no further."""
    if workers <= 1:
        return [use(c, load()) for c, load in zip(commits, loads, strict=True)]
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    def task(commit: str, load: Callable[[], pa.Table | None]) -> T:
        return use(commit, load())  # the history is dropped when this returns

    done: list[Future[T]] = []
    running: set[Future[T]] = set()
    with ThreadPoolExecutor(workers, thread_name_prefix="gittrack-metrics") as pool:
        for commit, load in zip(commits, loads, strict=True):
            if len(running) >= workers:
                running = wait(running, return_when=FIRST_COMPLETED).not_done
            future = pool.submit(task, commit, load)
            running.add(future)
            done.append(future)
    return [future.result() for future in done]
