"""Reproduce a run from its commit, and check a run's code out into the working tree.

``prepare_reproduction`` materialises the run's code snapshot (never the user's work
tree) into a fresh directory, rebuilds the recorded command, and checks the environment
and inputs; ``execute_reproduction`` re-runs it as a new run tagged
``gittrack.reproduced_from`` with the same code snapshot, then compares final metrics.
``checkout_run`` writes a run's code into the working tree without moving HEAD.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gittrack import format as fmt
from gittrack.entities import Run
from gittrack.environment import MASK, python_environment
from gittrack.errors import (
    GittrackError,
    ProjectError,
    RepositoryError,
    ReproduceError,
    UnsafePathError,
)
from gittrack.project import find_project_file
from gittrack.runner import CommandPlan, RunResult, plan_entry_point, run_tracked
from gittrack.runs import LoadedRun, RunStore
from gittrack.store.repo import MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_LINK, MODE_TREE, GitStore

log = logging.getLogger("gittrack")

REPRODUCED_FROM_TAG = "gittrack.reproduced_from"
CHECKOUT_FILE = "gittrack/checkout.yaml"  # in the work tree's git directory


@dataclass(frozen=True)
class MetricComparison:
    """One metric's final value in the original and the reproduced run."""

    key: str
    original: float | None
    reproduced: float | None
    match: bool


@dataclass(frozen=True)
class Reproduction:
    """A prepared reproduction: materialised code, command, and what the checks found."""

    run_id: str
    commit: str
    record: fmt.RunRecord
    workdir: Path
    cwd: str
    plan: CommandPlan
    temporary: bool
    environment_differences: list[str] = field(default_factory=list)
    input_problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # inputs restored or linked: no problem

    @property
    def display_command(self) -> str:
        """The command as a user would type it."""
        import shlex

        shell = self.plan.info.get("shell")
        return str(shell) if shell else shlex.join(self.plan.argv)

    def cleanup(self) -> None:
        """Remove the materialised directory when it is a temporary one."""
        if self.temporary:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True)
class ReproduceResult:
    """The outcome: the new run, how it ended, and the metric verdict."""

    original_run_id: str
    run: RunResult
    comparisons: list[MetricComparison]

    @property
    def matched(self) -> bool:
        return self.run.status == "FINISHED" and all(c.match for c in self.comparisons)


# -- materialising -----------------------------------------------------------------------
def _safe_name(name: str) -> bool:
    return (
        name not in ("", ".", "..")
        and "/" not in name
        and "\0" not in name
        and name.lower() != ".git"
    )


def materialise(top: GitStore, entries: Mapping[bytes, tuple[int, str]], dest: Path) -> list[str]:
    """Write a code tree into ``dest`` (modes kept), submodules at their recorded commits
    when this clone has them; return warnings (e.g. a submodule it lacks)."""
    from gittrack.store.snapshot import submodule_store

    warnings: list[str] = []
    root = dest.resolve()

    def write(
        git: GitStore, tree: Mapping[bytes, tuple[int, str]], directory: Path, prefix: str
    ) -> None:
        for raw, (mode, sha) in sorted(tree.items()):
            name = raw.decode("utf-8", "surrogateescape")
            if not _safe_name(name):
                raise UnsafePathError(f"snapshot path {prefix + name!r} is unsafe; not written")
            target = directory / name
            if not target.parent.resolve().is_relative_to(root):
                raise UnsafePathError(f"snapshot path {prefix + name!r} escapes {dest}")
            if mode == MODE_TREE:
                target.mkdir()
                write(git, git.read_tree(sha), target, f"{prefix}{name}/")
            elif mode == MODE_LINK:
                os.symlink(git.read_blob(sha), target)
            elif mode == MODE_GITLINK:
                target.mkdir()
                sub = submodule_store(top, prefix + name, sha)
                if sub is None:
                    warnings.append(
                        f"submodule {prefix}{name} at commit {sha[:12]} is not in this clone "
                        "(git submodule update --init fetches it); its folder stays empty"
                    )
                    continue
                with sub:
                    tree_sha = sub.read_commit(sha).tree.decode("ascii")
                    write(sub, sub.read_tree(tree_sha), target, f"{prefix}{name}/")
            else:
                with open(target, "xb") as f:
                    f.write(git.read_blob(sha))
                os.chmod(target, 0o755 if mode == MODE_EXEC else 0o644)

    try:
        write(top, entries, root, "")
    except OSError as e:
        raise ReproduceError(f"cannot write the run's code into {dest}: {e}") from e
    return warnings


def _workdir(into: Path | None) -> tuple[Path, bool]:
    if into is None:
        return Path(tempfile.mkdtemp(prefix="gittrack-reproduce-")), True
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ReproduceError(f"--into {into} is not an empty directory; give an empty or new one")
    try:
        into.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReproduceError(f"cannot create {into}: {e.strerror}") from e
    return into.resolve(), False


# -- checks ------------------------------------------------------------------------------
def environment_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Python and package versions that differ between a run and this interpreter."""
    diffs: list[str] = []
    for key in ("python", "implementation"):
        old, new = recorded.get(key), current.get(key)
        if old and old != new:
            diffs.append(f"{key} {old} in the run, {new} here")
    packages = current.get("packages") or {}
    for name, version in sorted((recorded.get("packages") or {}).items()):
        here = packages.get(name)
        if here is None:
            diffs.append(f"package {name} {version} in the run, not installed here")
        elif str(here) != str(version):
            diffs.append(f"package {name} {version} in the run, {here} here")
    return diffs


def _input_problems(
    record: fmt.RunRecord, workdir: Path, repo_root: Path
) -> tuple[list[str], list[str]]:
    """Inputs that differ from the run's (refuse), and inputs that cannot be checked (warn)."""
    if not record.inputs:
        return [], []
    from gittrack.lineage.checks import check_inputs, unchecked_inputs

    return check_inputs(record, workdir, repo_root), unchecked_inputs(record)


def _fetch_kept_inputs(runs: RunStore, record: fmt.RunRecord) -> None:
    """Bring kept input bytes missing from the local cache from wherever they are
    (artifact remote, path git remotes); say exactly which input is lost and what to do."""
    from gittrack.artifacts.transfer import fetch_kept_inputs

    lost = fetch_kept_inputs(runs, record)
    if lost:
        entry, sha, why = lost[0]
        more = f" (+{len(lost) - 1} more kept inputs)" if len(lost) > 1 else ""
        raise ReproduceError(
            f"run {record.run_id[:12]}'s kept input {entry.get('name')!r} "
            f"({entry.get('source')}, object {sha[:12]}) {why}{more}"
        )


def _provide_inputs(record: fmt.RunRecord, workdir: Path, repo_root: Path) -> list[str]:
    """Make the run's inputs available in ``workdir`` at their recorded relative paths.

    Kept inputs are restored from the artifact cache (hash-verified); other file and
    directory inputs found in the user's repository are linked in read-only fashion,
    since data is rarely part of the code snapshot.
    """
    if not record.inputs:
        return []
    from gittrack.lineage.checks import restore_kept_inputs

    notes: list[str] = []
    for source in restore_kept_inputs(record, workdir, repo=repo_root):
        notes.append(f"restored kept input {source}")
    for entry in record.inputs:
        source = str(entry.get("source", ""))
        if entry.get("kept") or entry.get("kind") not in ("file", "directory"):
            continue
        rel = Path(source)
        if not source or rel.is_absolute() or ".." in rel.parts:
            continue
        target, origin = workdir / rel, repo_root / rel
        if target.exists() or target.is_symlink() or not origin.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(origin.resolve())
        notes.append(f"linked input {source} from {repo_root}")
    return notes


def _command_cwd(command: Mapping[str, Any], run: str) -> str:
    cwd = str(command.get("cwd") or ".")
    parts = Path(cwd).parts
    if Path(cwd).is_absolute() or ".." in parts:
        raise ReproduceError(f"run {run} records an unsafe working directory {cwd!r}")
    return cwd


_INTERPRETERS = ("python", "sh", "bash", "zsh", "Rscript", "node", "julia", "perl", "ruby")


def _script_of(argv: list[str]) -> str | None:
    """The relative script file a command runs (``python train.py``, ``./run.sh``), if any."""
    program = argv[0]
    if "/" in program and not os.path.isabs(program):
        return program
    if Path(program).name.startswith(_INTERPRETERS) and len(argv) > 1:
        first = argv[1]
        if not first.startswith("-") and not os.path.isabs(first) and ".." not in Path(first).parts:
            return first
    return None


def reproduction_plan(
    record: fmt.RunRecord, workdir: Path, overrides: Mapping[str, str]
) -> tuple[CommandPlan, str]:
    """The command that re-runs ``record`` inside ``workdir`` and its cwd (relative)."""
    run = record.run_id[:12]
    command = record.command
    cwd = _command_cwd(command, run)
    where = workdir / cwd
    argv = [str(a) for a in command.get("argv") or []]
    if not where.is_dir():
        raise ReproduceError(f"run {run} ran in {cwd!r}, which is not in its code snapshot")
    if any(MASK in a for a in argv):
        raise ReproduceError(
            f"run {run}'s recorded command has masked secrets ({MASK}); re-run it by hand"
        )
    if command.get("entry_point"):
        if find_project_file(where) is None:
            raise ReproduceError(
                f"run {run}'s project file {command.get('project_file') or 'gittrack.yaml'} is "
                "not in its code snapshot (untracked when the run started? git add it, or set "
                "gittrack.includeUntracked)"
            )
        params: dict[str, Any] = dict(command.get("params") or {})
        params.update(overrides)
        try:
            plan = plan_entry_point(where, str(command["entry_point"]), params)
        except ProjectError as e:
            raise ReproduceError(f"run {run} cannot be reproduced: {e.message}") from e
        return plan, cwd
    if not argv:
        raise ReproduceError(f"run {run} records no command, so it cannot be re-run")
    if overrides:
        raise ReproduceError(
            f"-P cannot change run {run}: its command does not take params "
            "(only runs of an entry point do)"
        )
    if command.get("launcher"):
        named = _script_of(argv)
        inputs = {str(e.get("source")) for e in record.inputs}
        if named is not None and named not in inputs and not os.path.lexists(where / named):
            raise ReproduceError(
                f"run {run}'s command runs {named}, which is not in its code snapshot "
                "(untracked when the run started? git add it, or set gittrack.includeUntracked)"
            )
        values = dict(command.get("params") or {})
        return CommandPlan(argv=argv, params=values, info={"params": values}), cwd
    script = command.get("script")
    if not script or len(argv) < 2 or not Path(argv[0]).name.startswith("python"):
        raise ReproduceError(
            f"run {run} records no script (logged from python -c, a notebook or a shell?); "
            "only runs of a script file or of gittrack run can be re-run"
        )
    if not (workdir / str(script)).is_file():
        raise ReproduceError(f"run {run}'s script {script} is not in its code snapshot")
    return CommandPlan(argv=[sys.executable, *argv[1:]]), cwd


def prepare_reproduction(
    runs: RunStore,
    run_ref: str,
    *,
    into: Path | None = None,
    strict: bool = False,
    allow_changed_inputs: bool = False,
    overrides: Mapping[str, str] | None = None,
) -> Reproduction:
    """Materialise a run's code and check that it can be re-run here."""
    run_id = runs.resolve(run_ref)
    loaded = runs.load(run_id)
    record = loaded.record
    if record.parent_run_id:
        # Its command is the parent's: re-running it makes a new parent, not this run.
        parent = record.parent_run_id[:12]
        raise ReproduceError(
            f"run {run_id[:12]} is a child of run {parent}, whose command made it; "
            f"reproduce the parent (gittrack reproduce {parent}), which re-runs its children"
        )
    workdir, temporary = _workdir(into)
    try:
        warnings = materialise(runs.git, loaded.code_entries, workdir)
        plan, cwd = reproduction_plan(record, workdir, overrides or {})
        diffs = environment_differences(record.environment, python_environment())
        if diffs and strict:
            raise ReproduceError(
                f"--strict: the environment differs from run {run_id[:12]}'s: {diffs[0]}"
                + (f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else "")
            )
        _fetch_kept_inputs(runs, record)
        problems, unchecked = _input_problems(record, workdir, runs.root)
        if problems and not allow_changed_inputs:
            raise ReproduceError(
                f"run {run_id[:12]}'s inputs are not as recorded: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                + "; pass --allow-changed-inputs to run anyway"
            )
        warnings += unchecked
        notes = _provide_inputs(record, workdir, runs.root)
    except BaseException:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Reproduction(
        run_id=run_id,
        commit=loaded.commit,
        record=record,
        workdir=workdir,
        cwd=cwd,
        plan=plan,
        temporary=temporary,
        environment_differences=diffs,
        input_problems=problems,
        warnings=warnings,
        notes=notes,
    )


def check_tolerances(rtol: float, atol: float) -> None:
    """Refuse tolerances a comparison cannot use (negative or NaN) with a ReproduceError."""
    for name, value in (("rtol", rtol), ("atol", atol)):
        if math.isnan(value):
            raise ReproduceError(f"{name} must be a number, got {value!r}")
        if value < 0:
            raise ReproduceError(f"{name} must not be negative, got {value!r}")


def compare_metrics(
    original: Mapping[str, float], reproduced: Mapping[str, float], *, rtol: float, atol: float
) -> list[MetricComparison]:
    """Final metrics key by key (``math.isclose``; NaN matches NaN; a missing key fails)."""
    check_tolerances(rtol, atol)
    rows: list[MetricComparison] = []
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        if a is None or b is None:
            match = False
        elif math.isnan(a) or math.isnan(b):
            match = math.isnan(a) and math.isnan(b)
        else:
            match = math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
        rows.append(MetricComparison(key=key, original=a, reproduced=b, match=match))
    return rows


def execute_reproduction(
    runs: RunStore,
    repro: Reproduction,
    *,
    rtol: float = 1e-9,
    atol: float = 0.0,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    on_start: Callable[[Run], None] | None = None,
) -> ReproduceResult:
    """Re-run a prepared reproduction as a new run and compare its final metrics."""
    check_tolerances(rtol, atol)
    try:
        result = run_tracked(
            repro.plan,
            repo=runs.root,
            cwd=repro.workdir / repro.cwd,
            experiment=repro.record.experiment,
            tags={REPRODUCED_FROM_TAG: repro.run_id},
            code_from=repro.commit,
            record_cwd=repro.cwd,
            stdout=stdout,
            stderr=stderr,
            on_start=on_start,
        )
    finally:
        repro.cleanup()
    new = runs.load(result.run_id).record
    comparisons = compare_metrics(
        {k: m.value for k, m in repro.record.metrics.items()},
        {k: m.value for k, m in new.metrics.items()},
        rtol=rtol,
        atol=atol,
    )
    return ReproduceResult(original_run_id=repro.run_id, run=result, comparisons=comparisons)


# -- checkout ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckoutResult:
    """What ``checkout_run`` changed in the working tree."""

    run_id: str
    written: list[str]
    deleted: list[str]
    params_file: str
    warnings: list[str] = field(default_factory=list)  # e.g. a submodule not checked out


def _flatten(git: GitStore, entries: Mapping[bytes, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    files: dict[str, tuple[int, str]] = {}
    for raw, (mode, sha) in entries.items():
        name = raw.decode("utf-8", "surrogateescape")
        if mode == MODE_TREE:
            files.update({p: (m, s) for p, m, s in git.iter_tree_files(sha, name + "/")})
        else:
            files[name] = (mode, sha)
    return files


def _disk_blob(path: Path) -> tuple[int, str] | None:
    """(mode, git blob sha) of a file on disk, or None for a directory or nothing."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        data, mode = os.fsencode(os.readlink(path)), MODE_LINK
    elif stat.S_ISREG(st.st_mode):
        data = path.read_bytes()
        mode = MODE_EXEC if st.st_mode & 0o111 else MODE_FILE
    else:
        return None
    return mode, hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def checkout_run(runs: RunStore, run_ref: str, *, force: bool = False) -> CheckoutResult:
    """Write a run's code snapshot into the working tree (HEAD, index, branches untouched),
    checked-out submodules included at the commit the run recorded."""
    git = runs.git
    work = git.work_tree
    if work is None:
        raise RepositoryError(f"{runs.root} is a bare repository: checkout needs a working tree")
    run_id = runs.resolve(run_ref)
    loaded = runs.load(run_id)
    plans: list[_CheckoutPlan] = []
    conflicts: list[str] = []
    warnings: list[str] = []
    try:
        try:
            _plan_checkout(git, work, loaded.code_entries, "", plans, conflicts, warnings)
        except UnsafePathError as e:
            raise UnsafePathError(f"run {run_id[:12]} {e.message}") from None
        if conflicts and not force:
            more = f" (+{len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
            raise ReproduceError(
                f"checkout of run {run_id[:12]} would overwrite uncommitted changes in "
                f"{conflicts[0]}{more}; commit them or pass --force"
            )
        try:
            for plan in plans:
                for path in plan.deletes:
                    _delete_file(plan.work, path)
                for path in plan.writes:
                    _write_file(plan.git, plan.work, path, plan.target[path])
            # In the git directory, not the work tree, where `git add -A` would pick it up.
            params_file = git.git_dir / CHECKOUT_FILE
            params_file.parent.mkdir(exist_ok=True)
            params_file.write_bytes(_checkout_yaml(loaded))
        except OSError as e:
            raise ReproduceError(f"checkout of run {run_id[:12]} failed: {e}") from e
    finally:
        for plan in plans[1:]:  # the submodules' repositories
            plan.git.close()
    return CheckoutResult(
        run_id=run_id,
        written=[plan.prefix + p for plan in plans for p in plan.writes],
        deleted=[plan.prefix + p for plan in plans for p in plan.deletes],
        params_file=str(params_file),
        warnings=warnings,
    )


@dataclass(frozen=True)
class _CheckoutPlan:
    """What checkout writes and deletes in one working tree (the top level or a submodule)."""

    git: GitStore
    work: Path
    prefix: str  # the submodule's path followed by "/" ("" at the top level)
    target: dict[str, tuple[int, str]]
    writes: list[str]
    deletes: list[str]


def _plan_checkout(
    git: GitStore,
    work: Path,
    entries: Mapping[bytes, tuple[int, str]],
    prefix: str,
    plans: list[_CheckoutPlan],
    conflicts: list[str],
    warnings: list[str],
) -> None:
    """Plan the checkout of ``entries`` into ``work`` and, recursively, into each
    checked-out submodule; nothing is written yet."""
    from gittrack.store.snapshot import snapshot_worktree

    target = _flatten(git, entries)
    for path in target:
        if not all(_safe_name(part) for part in path.split("/")):
            raise UnsafePathError(f"holds an unsafe path {prefix + path!r}")
    current = _flatten(git, snapshot_worktree(git).root_entries)
    head = git.head_commit()
    head_files = (
        _flatten(git, git.read_tree(git.read_commit(head).tree.decode("ascii"))) if head else {}
    )
    tracked = set(current) | set(head_files)
    plan = _CheckoutPlan(git, work, prefix, target, [], [])
    plans.append(plan)
    for path, entry in sorted(target.items()):
        if entry[0] == MODE_GITLINK:
            _plan_submodule(git, work, path, entry[1], prefix, plans, conflicts, warnings)
            continue
        now = current.get(path) if path in tracked else _disk_blob(work / path)
        if now == entry:
            continue
        changed = path in tracked and current.get(path) != head_files.get(path)
        untracked_here = path not in tracked and os.path.lexists(work / path)
        if changed or untracked_here:
            conflicts.append(prefix + path)
        plan.writes.append(path)
    for path in sorted(set(current) - set(target)):
        if current[path][0] == MODE_GITLINK:
            warnings.append(f"submodule {prefix}{path} is not in the run; left as it is")
            continue
        if current[path] != head_files.get(path):
            conflicts.append(prefix + path)
        plan.deletes.append(path)


def _plan_submodule(
    top: GitStore,
    work: Path,
    path: str,
    commit: str,
    prefix: str,
    plans: list[_CheckoutPlan],
    conflicts: list[str],
    warnings: list[str],
) -> None:
    """Plan a submodule's checkout at ``commit``, when it is checked out and has it."""
    sub_work = work / path
    name = prefix + path
    if not _inside(sub_work, work) or not os.path.lexists(sub_work / ".git"):
        warnings.append(
            f"submodule {name} is not checked out (git submodule update --init); "
            f"its code at commit {commit[:12]} was not written"
        )
        return
    try:
        sub = GitStore(sub_work)
    except GittrackError as e:
        warnings.append(f"submodule {name} cannot be read ({e}); left as it is")
        return
    try:
        tree = sub.read_tree(sub.read_commit(commit).tree.decode("ascii"))
    except GittrackError:
        sub.close()
        warnings.append(
            f"submodule {name} at commit {commit[:12]} is not in this clone "
            "(git submodule update fetches it); left as it is"
        )
        return
    try:
        _plan_checkout(sub, sub_work, tree, name + "/", plans, conflicts, warnings)
    finally:
        if not any(plan.git is sub for plan in plans):  # failed before its plan was kept
            sub.close()


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (or its deepest existing ancestor) resolves inside ``root``."""
    probe = path
    while not os.path.lexists(probe) and probe != root and probe != probe.parent:
        probe = probe.parent
    return probe.resolve().is_relative_to(root.resolve())


def _delete_file(work: Path, path: str) -> None:
    target = work / path
    if not _inside(target.parent, work):
        raise UnsafePathError(f"{path} lies outside {work} (through a symlink); not deleted")
    target.unlink(missing_ok=True)
    parent = target.parent
    while parent != work:  # drop folders the deletion left empty, as git does
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def _write_file(git: GitStore, work: Path, path: str, entry: tuple[int, str]) -> None:
    target = work / path
    parent = target.parent
    if not _inside(parent, work):
        raise UnsafePathError(f"{path} would be written outside {work} (through a symlink)")
    parent.mkdir(parents=True, exist_ok=True)
    mode, sha = entry
    data = git.read_blob(sha)
    if os.path.lexists(target) and (target.is_symlink() or not target.is_dir()):
        target.unlink()
    if mode == MODE_LINK:
        os.symlink(data, target)
        return
    tmp = parent / f".{target.name}.gittrack-{os.getpid()}"
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755 if mode == MODE_EXEC else 0o644)
    os.replace(tmp, target)


def _checkout_yaml(loaded: LoadedRun) -> bytes:
    record = loaded.record
    header = b"# written by gittrack checkout: the run whose code is in this working tree\n"
    return header + fmt.dump_yaml(
        {
            "run_id": record.run_id,
            "commit": loaded.commit,
            "name": record.name,
            "experiment": record.experiment,
            "params": record.params,
            "command": record.command,
        }
    )
