"""All remote git I/O: push and fetch ``refs/gittrack/*``, write and read bundles.

Two engines do the transfer. C git (when installed) is the default: it is 4-5x faster
than dulwich's client on thousands of refs and it authenticates exactly as the user's
git does (ssh agent, credential helpers, ``insteadOf``, proxies). dulwich's low-level
client (``send_pack`` / ``fetch``) is the fallback when git is missing, or when
``GITTRACK_TRANSPORT=dulwich``. Both move only ``refs/gittrack/*`` and the objects those
refs need; neither touches branches, HEAD, the index or the working tree.

What a remote held when we last exchanged with it is recorded as tracking refs
``refs/gittrack-remotes/<key>/...`` (``<key>`` = the remote's name, or a digest of the URL);
pushes use them as the expected old value (``--force-with-lease``), so a run that changed
on the remote since then is never overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar, cast

from gittrack.errors import RemoteError, RepositoryError
from gittrack.store import refs as refs_mod
from gittrack.store.repo import GitStore, common_dir_of

NAMESPACE = "refs/gittrack/"
TRACKING_PREFIX = "refs/gittrack-remotes/"
CONFLICT_PREFIX = "refs/gittrack-conflicts/"
READ_EACH = 64  # up to this many tracking refs are read one by one, more in one listing
PUSH_CHUNK = 500  # explicit refspecs per `git push` (C git matches them in O(n^2))
_TMP_REMOTE = "gittrack-sync"

Progress = Callable[[bytes], None]
T = TypeVar("T")

_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SCP_RE = re.compile(r"^[^/:]+:(?!//)")  # user@host:path (ssh shorthand)
# What dulwich's get_transport_and_path handles; any other scheme it would take for ssh.
_DULWICH_SCHEMES = {"file", "git", "http", "https", "ssh", "git+ssh", "ssh+git"}
_CREDS_RE = re.compile(r"(://)([^/@\s]+)@")
_PROGRESS_RE = re.compile(
    rb"^(remote: )?(Enumerating|Counting|Compressing|Writing|Total|Receiving|Resolving|"
    rb"Unpacking|Checking|Indexing)"
)


@dataclass(frozen=True)
class Remote:
    """Where runs go: a configured remote name or a URL / path."""

    url: str
    name: str | None = None
    push_url: str | None = None  # a named remote's ``remote.<name>.pushurl``

    @property
    def push_target(self) -> str:
        """The URL pushes go to (git's rule: the pushurl when set)."""
        return self.push_url or self.url

    @property
    def key(self) -> str:
        """The folder of this remote's tracking refs."""
        if self.name is not None:
            return self.name
        # Hash the URL without ``user:password@``: a ref name must not carry (a hash of)
        # a password, and new credentials must not split the tracking state.
        import hashlib

        return "url-" + hashlib.sha1(_CREDS_RE.sub(r"\1", self.url).encode()).hexdigest()[:16]

    @property
    def tracking_prefix(self) -> str:
        return f"{TRACKING_PREFIX}{self.key}/"

    @property
    def display(self) -> str:
        """The remote as shown to users: its name, or its URL without credentials."""
        return self.name if self.name is not None else redact(self.url)

    def tracking_ref(self, ref: str) -> str:
        """``refs/gittrack/runs/x`` -> ``refs/gittrack-remotes/<key>/runs/x``."""
        return self.tracking_prefix + ref[len(NAMESPACE) :]


class RefUpdate(NamedTuple):
    """The outcome of pushing one ref: new, updated, uptodate or rejected (a tuple: a
    no-op push makes one per run, and a frozen dataclass costs 3 us each to build)."""

    ref: str
    status: str
    reason: str = ""


def redact(text: str) -> str:
    """Hide ``user:password@`` in URLs inside ``text``."""
    return _CREDS_RE.sub(r"\1***@", text)


def engine() -> str:
    """``git`` or ``dulwich``: ``GITTRACK_TRANSPORT`` (git|dulwich|auto), else git if installed."""
    choice = os.environ.get("GITTRACK_TRANSPORT", "auto").strip().lower() or "auto"
    if choice not in ("auto", "git", "dulwich"):
        raise RemoteError(f"GITTRACK_TRANSPORT must be git, dulwich or auto, not {choice!r}")
    if choice == "auto":
        return "git" if shutil.which("git") else "dulwich"
    if choice == "git" and not shutil.which("git"):
        raise RemoteError("GITTRACK_TRANSPORT=git but the git command is not installed")
    return choice


def resolve_remote(store: GitStore, remote: str | None) -> Remote:
    """A configured remote name (``remote.<name>.url``), a URL, or a path; default origin.

    An empty name and a remote that is this repository itself are refused.
    """
    if remote is not None and not remote.strip():
        raise RemoteError(
            "the remote is empty: give a remote name, URL or path (or none for origin)"
        )
    found = _find_remote(store, remote)
    for url in {found.url, found.push_target}:
        path = local_path(url)
        if path is not None and _is_this_repository(store, path):
            raise RemoteError(
                f"remote {found.display} is this repository itself; give another repository"
            )
    return found


def local_path(url: str) -> Path | None:
    """The directory a path or ``file://`` URL names; None for network URLs."""
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if _URL_RE.match(url) or (_SCP_RE.match(url) and not Path(url).exists()):
        return None
    return Path(url).expanduser()


def _is_this_repository(store: GitStore, path: Path) -> bool:
    from gittrack.store.repo import find_repository_root

    try:
        root = find_repository_root(path) if path.exists() else None
    except OSError:
        return False
    if root is None:
        return False
    try:
        ours = {store.root.resolve(), store.git_dir.resolve(), store.common_dir.resolve()}
        return bool({root, path.resolve()} & ours)
    except OSError:
        return False


def _find_remote(store: GitStore, remote: str | None) -> Remote:
    name = remote or "origin"
    url = _config_remote_url(store, name)
    if url is not None:
        push = _config_remote_url(store, name, "pushurl")
        push_url = _absolute(push, store) if push is not None else None
        return Remote(url=_absolute(url, store), name=name, push_url=push_url)
    if remote is None:
        raise RemoteError(
            "no remote named 'origin' is configured (add one with 'git remote add origin URL' "
            "or give a remote name, URL or path)"
        )
    if _URL_RE.match(remote) or (_SCP_RE.match(remote) and not Path(remote).exists()):
        return Remote(url=remote)
    path = Path(remote).expanduser()
    if path.exists():
        return Remote(url=str(path.resolve()))
    raise RemoteError(
        f"no remote named {remote!r} and no repository at that path "
        "(use 'git remote -v' to list remotes, or give a URL)"
    )


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c in name for c in ' "\\\n') and "/" not in name


def _config_remote_url(store: GitStore, name: str, key: str = "url") -> str | None:
    """``remote.<name>.url`` (or another ``key``) from the repository's, then the user's,
    git config."""
    if not _valid_name(name):
        return None
    return store.config_value("remote", key, name)


def remote_urls(store: GitStore, *, push: bool = False) -> dict[str, str]:
    """The git remotes of the repository's own config, ``{name: url}``, origin first;
    relative paths made absolute as git reads them. ``push``: a remote's pushurl where
    it has one."""
    from dulwich.config import ConfigFile

    try:
        cfg = ConfigFile.from_path(str(store.common_dir / "config"))
    except (FileNotFoundError, OSError):
        return {}
    found: dict[str, str] = {}
    for section in cfg.sections():
        if len(section) != 2 or section[0] != b"remote":
            continue
        try:
            url = bytes(cfg.get(section, b"url")).decode()
        except KeyError:
            continue
        if push:
            try:
                url = bytes(cfg.get(section, b"pushurl")).decode()
            except KeyError:
                pass
        found[section[1].decode("utf-8", "replace")] = _absolute(url, store)
    return dict(sorted(found.items(), key=lambda item: item[0] != "origin"))


def _absolute(url: str, store: GitStore) -> str:
    """Relative paths in config are relative to the repository, as C git reads them."""
    if _URL_RE.match(url) or _SCP_RE.match(url) or os.path.isabs(url):
        return url
    return str(((store.work_tree or store.git_dir) / url).resolve())


# -- C git ------------------------------------------------------------------------------
def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password nobody will type
    env["LC_ALL"] = "C"  # messages we parse stay in English
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    return env


def _pump(stream: IO[bytes], sink: list[bytes], progress: Progress | None) -> None:
    """Collect git's stderr; forward progress meters when asked to."""
    pending = b""
    while True:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        sink.append(chunk)
        if progress is None:
            continue
        pending += chunk
        parts = re.split(rb"(\r|\n)", pending)
        pending = parts.pop()
        for i in range(0, len(parts) - 1, 2):
            line, end = parts[i], parts[i + 1]
            if _PROGRESS_RE.match(line):
                progress(line + end)


def run_git(
    store: GitStore,
    args: list[str],
    *,
    progress: Progress | None = None,
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """Run C git in the repository; return (exit code, stdout, stderr). Never raises on rc."""
    cmd = ["git", *args]
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=store.work_tree or store.git_dir,
            env=_git_env(),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise RemoteError(f"cannot run git: {e.strerror} (set GITTRACK_TRANSPORT=dulwich)") from e
    assert proc.stdout is not None and proc.stderr is not None
    err: list[bytes] = []
    pump = threading.Thread(target=_pump, args=(proc.stderr, err, progress), daemon=True)
    pump.start()
    if stdin is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    out = proc.stdout.read()
    proc.wait()
    pump.join()
    proc.stdout.close()
    proc.stderr.close()
    return (
        proc.returncode,
        out.decode("utf-8", "surrogateescape"),
        b"".join(err).decode("utf-8", "replace"),
    )


def in_background(work: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``work(*args)`` in a thread; the function returned waits for its result (or
    raises its error). For a git process to run while this one reads its own refs."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append((True, work(*args)))
        except BaseException as e:  # handed to the caller, raised there
            box.append((False, e))

    thread = threading.Thread(target=run, name="gittrack-git", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return cast(T, value)

    return result


def _failure(remote: Remote, what: str, stderr: str) -> RemoteError:
    """One line from git's stderr, credentials removed, with the next step."""
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    fatal = [
        ln.split(":", 1)[1].strip()
        for ln in lines
        if ln.startswith(("fatal:", "error:")) and "could not read from remote" not in ln.lower()
    ]
    line = fatal[0] if fatal else lines[-1] if lines else "git failed"
    low = stderr.lower()
    where = remote.display
    helper = re.search(r"'remote-([^']+)' is not a git command", stderr)
    if helper:
        return _no_transport(remote, what, helper.group(1))
    if "authentication failed" in low or "could not read username" in low or " 401" in low:
        return RemoteError(
            f"{what} {where}: authentication failed (check the credentials or credential helper)"
        )
    if any(s in low for s in ("does not appear to be a git repository", "not found", "gitfile")):
        return RemoteError(f"{what} {where} failed: no git repository there")
    errno = re.search(r"errno=([^\n]+)", stderr)
    if errno:
        line = errno.group(1).strip()
    if errno or "unable to connect" in low or "unable to access" in low or "could not read" in low:
        return RemoteError(f"{what} {where}: remote unreachable ({_short(redact(line))})")
    return RemoteError(f"{what} {where} failed: {_short(redact(line))}")


def _no_transport(remote: Remote, what: str, scheme: str) -> RemoteError:
    """A URL scheme no transport handles: most often a typo in the URL."""
    return RemoteError(
        f"{what} {remote.display} failed: '{scheme}://' is not a git transport (a typo? "
        "use a path, file://, git://, http(s):// or ssh://)"
    )


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tracking_config(remote: Remote, *, track: bool = True) -> tuple[list[str], str]:
    """``-c`` options so git maintains our tracking refs (``track``; else only names the
    remote), and the remote to name."""
    target = remote.name if remote.name is not None else _TMP_REMOTE
    opts = ["-c", f"remote.{target}.fetch=+{NAMESPACE}*:{remote.tracking_prefix}*"] if track else []
    if remote.name is None:
        opts += ["-c", f"remote.{target}.url={remote.url}"]
    return opts, target


def listing(
    store: GitStore, remote: Remote, what: str, url: str | None = None
) -> Callable[[], dict[str, str]]:
    """A function answering ``{ref: sha}`` of the remote's ``refs/gittrack/*`` (what
    ``git ls-remote`` lists; ``url``: ask that URL instead, as a push asks where it pushes).
    A remote on this machine is read at once; else git is asked in the background (one
    cheap round trip), so that the caller reads its own refs meanwhile."""
    found = _read_local_refs(store, url or remote.url)
    if found is not None:
        return lambda: found
    return in_background(_git_ls_remote, store, remote, what, url)


def _git_ls_remote(store: GitStore, remote: Remote, what: str, url: str | None) -> dict[str, str]:
    opts, target = _tracking_config(remote)
    if url is not None:
        opts, target = [], url
    rc, out, err = run_git(store, [*opts, "ls-remote", target, f"{NAMESPACE}*"])
    if rc != 0:
        raise _failure(remote, what, err)
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name.startswith(NAMESPACE) and not name.endswith("^{}") and len(sha) == 40:
            refs[name] = sha
    return refs


def _read_local_refs(store: GitStore, url: str) -> dict[str, str] | None:
    """The ``refs/gittrack/*`` of a repository on this machine, read from its ref files as
    ``ls-remote`` lists them, without starting git and its ``upload-pack`` (~25 ms of CPU,
    most of a push or pull with nothing new). None when only git can tell: not a path, not
    a plain repository there (git's ``.git`` suffix search, errors), refs in a reftable,
    refs hidden or a program or URL rewritten by configuration."""
    path = local_path(url)
    if path is None or not path.is_dir() or _configured_around(store):
        return None
    try:
        common = common_dir_of(path)
        config = (common / "config").read_bytes().lower()
        if any(word in config for word in (b"hiderefs", b"refstorage", b"[include")):
            return None
        if (common / "reftable").exists() or not (common / "objects").is_dir():
            return None
        return refs_mod.list_refs(common, NAMESPACE)
    except (RepositoryError, OSError, ValueError):
        return None


def _configured_around(store: GitStore) -> bool:
    """Whether configuration may make git reach a remote other than by reading its files:
    URL rewrites (``insteadOf``), hidden refs, upload-pack settings, included files, or
    settings given on the command line; decided without parsing the config files."""
    if "GIT_CONFIG_PARAMETERS" in os.environ or "GIT_CONFIG_COUNT" in os.environ:
        return True
    return store.config_mentions(b"insteadof", b"hiderefs", b"uploadpack", b"[include")


def _git_push(
    store: GitStore,
    remote: Remote,
    refs: list[str] | None,
    progress: Progress | None,
    before_transfer: Callable[[dict[str, str]], None] | None,
) -> list[RefUpdate]:
    # ls-remote first: a no-op push ends here, having read nothing but our own refs
    # (listed while git asks the remote). A wildcard `git push` would find that out too,
    # but it rewrites the tracking ref of every up-to-date run: 160 ms per 1,000.
    advertised = listing(store, remote, "push to", remote.push_url)
    local = store.list_refs(NAMESPACE)
    theirs = advertised()
    chosen = local if refs is None else {r: local[r] for r in refs if r in local}
    todo = sorted(r for r, sha in chosen.items() if theirs.get(r) != sha)
    # A lease on a ref the remote lost could never hold: forget those we are to push.
    forget_gone(
        store, remote, theirs, _tracked(store, remote, [r for r in todo if r not in theirs])
    )
    if todo and before_transfer is not None:
        before_transfer({r: chosen[r] for r in todo})
    if refs is None and len(todo) > PUSH_CHUNK:
        # Many to move: one wildcard push (explicit refspecs are quadratic in C git); it
        # reports every ref.
        if any(r in theirs for r in todo):
            return _run_push(store, remote, [f"{NAMESPACE}*:{NAMESPACE}*"], progress)
        # All new there (a first push): no lease to hold, so git need not write a tracking
        # ref file per run (as many file creations as runs, doubling the push's time);
        # they are created here in one packed-refs write. A plain push still refuses to
        # overwrite a ref someone else created meanwhile (not a fast-forward).
        updates = _run_push(store, remote, [f"{NAMESPACE}*:{NAMESPACE}*"], progress, lease=False)
        pushed = [u.ref for u in updates if u.status == "new"]
        if any(r not in chosen for r in pushed):  # created here since the listing
            chosen = {**store.list_refs(NAMESPACE), **chosen}
        store.create_refs({remote.tracking_ref(r): chosen[r] for r in pushed if r in chosen})
        return updates
    done = [RefUpdate(r, "uptodate") for r in sorted(chosen) if theirs.get(r) == chosen[r]]
    return done + _run_push(store, remote, [f"{r}:{r}" for r in todo], progress)


def _run_push(
    store: GitStore,
    remote: Remote,
    specs: list[str],
    progress: Progress | None,
    *,
    lease: bool = True,
) -> list[RefUpdate]:
    """``git push --force-with-lease`` of ``specs`` (in chunks; ``lease=False``: a plain
    push, which maintains no tracking ref); the per-ref outcomes."""
    if not specs:
        return []
    opts, target = _tracking_config(remote, track=lease)
    base = [*opts, "push", "--porcelain", "--no-verify"]
    if lease:
        base.append("--force-with-lease")
    if progress:  # (--quiet would also hide the per-ref --porcelain report)
        base.append("--progress")
    # No "+": a forced refspec would override the lease. With --force-with-lease alone,
    # git allows a non-fast-forward update only where the remote still holds our tracking
    # ref's value (a ref we never saw must not exist there).
    results: list[RefUpdate] = []
    for i in range(0, len(specs), PUSH_CHUNK):
        rc, out, err = run_git(
            store, [*base, target, *specs[i : i + PUSH_CHUNK]], progress=progress
        )
        parsed = _parse_porcelain(out)
        if rc != 0 and not any(u.status == "rejected" for u in parsed):
            raise _failure(remote, "push to", err)
        results += parsed
    return results


_FLAGS = {" ": "updated", "+": "updated", "*": "new", "=": "uptodate", "!": "rejected"}


def _parse_porcelain(out: str) -> list[RefUpdate]:
    updates = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1 or parts[0] not in _FLAGS:
            continue
        dst = parts[1].rpartition(":")[2]
        if not dst.startswith(NAMESPACE):
            continue
        summary = parts[2]
        reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else ""
        updates.append(RefUpdate(dst, _FLAGS[parts[0]], reason))
    return updates


def _git_fetch(
    store: GitStore,
    remote: Remote,
    theirs: dict[str, str],
    local: dict[str, str],
    tracking: dict[str, str],
    progress: Progress | None,
) -> dict[str, str]:
    forget_gone(store, remote, theirs, tracking)
    # Fetch what we have never seen; tracking refs follow whatever the remote holds.
    wanted = sorted(r for r, s in theirs.items() if s != local.get(r) and s != tracking.get(r))
    stale = {r: s for r, s in theirs.items() if tracking.get(r) != s and r not in wanted}
    prefix = remote.tracking_prefix
    if wanted:
        opts, target = _tracking_config(remote)
        args = [*opts, "fetch", "--no-tags", "--no-write-fetch-head", "--no-auto-gc"]
        if progress:
            args.append("--progress")
        if len(wanted) > PUSH_CHUNK:
            # Into the tracking refs only: the caller creates the new local runs (in one
            # packed-refs write; git writing a second ref file per run doubles its CPU).
            specs = [f"+{NAMESPACE}*:{prefix}*"]
        else:
            specs = [f"+{r}:{remote.tracking_ref(r)}" for r in wanted]
        rc, _, err = run_git(store, [*args, target, *specs], progress=progress)
        per_ref = "[rejected]" in err or "unable to update local ref" in err
        if rc != 0 and not (per_ref and "fatal:" not in err):
            raise _failure(remote, "fetch from", err)
        # What was really fetched (the remote may have moved since ls-remote).
        if len(wanted) > PUSH_CHUNK:
            fetched = {NAMESPACE + k[len(prefix) :]: v for k, v in store.list_refs(prefix).items()}
        else:
            fetched = {r: store.read_ref(remote.tracking_ref(r)) or theirs[r] for r in wanted}
        theirs.update({r: fetched[r] for r in wanted if r in fetched})
    set_refs(store, {remote.tracking_ref(r): s for r, s in stale.items()})
    return theirs


def _tracked(store: GitStore, remote: Remote, refs: Iterable[str] | None = None) -> dict[str, str]:
    """What ``remote`` held at the last exchange, ``{ref under refs/gittrack/: sha}``: of
    every ref, or of just ``refs`` (a few: one read each, not a listing of all)."""
    if refs is not None:
        refs = list(refs)
        if len(refs) <= READ_EACH:
            found = {ref: store.read_ref(remote.tracking_ref(ref)) for ref in refs}
            return {ref: sha for ref, sha in found.items() if sha is not None}
    prefix = remote.tracking_prefix
    listed = {NAMESPACE + k[len(prefix) :]: v for k, v in store.list_refs(prefix).items()}
    return listed if refs is None else {ref: listed[ref] for ref in refs if ref in listed}


def forget_gone(
    store: GitStore,
    remote: Remote,
    theirs: dict[str, str],
    tracking: dict[str, str] | None = None,
) -> None:
    """Drop the record of refs the remote no longer has (a run deleted there, a remote
    recreated empty): a lease on such a ref could never hold again, and pushing it simply
    creates it anew. ``tracking`` is the record as ``{ref: sha}`` (default: all of it)."""
    if tracking is None:
        tracking = _tracked(store, remote)
    for ref, sha in tracking.items():
        if ref not in theirs:
            store.delete_ref(remote.tracking_ref(ref), sha)


def set_refs(store: GitStore, values: dict[str, str]) -> None:
    """Force local refs to values (our own namespaces only), compare-and-swap per ref."""
    for name, sha in values.items():
        for _ in range(5):
            current = store.read_ref(name)
            if current == sha:
                break
            try:
                store.update_ref(name, sha, current)
                break
            except refs_mod.RefConflict:
                continue


# -- public entry points -------------------------------------------------------------------
def push(
    store: GitStore,
    remote: Remote,
    refs: list[str] | None,
    *,
    progress: Progress | None = None,
    before_transfer: Callable[[dict[str, str]], None] | None = None,
) -> list[RefUpdate]:
    """Push ``refs`` (None: every ``refs/gittrack/*``) with the tracking refs as lease.

    ``before_transfer`` is told the refs about to be pushed (``{ref: local sha}``) before
    git sends anything, so that the caller can work alongside (C git engine only).
    """
    if engine() == "git":
        return _git_push(store, remote, refs, progress, before_transfer)
    return _dulwich_push(store, remote, refs, progress)


@dataclass(frozen=True)
class Fetched:
    """What a fetch found; every name is under ``refs/gittrack/``."""

    theirs: dict[str, str]  # the remote's refs; their objects are now here
    local: dict[str, str]  # our refs before the fetch
    tracking: dict[str, str]  # what the remote held at the last exchange, before this one


def fetch(store: GitStore, remote: Remote, *, progress: Progress | None = None) -> Fetched:
    """Fetch the remote's ``refs/gittrack/*``.

    Objects of every ref in ``theirs`` are present and the tracking refs hold those
    values; no local run ref is created or changed. Our refs are read while
    the remote answers (a fetch of nothing costs about the larger of the two).
    """
    if engine() == "git":
        advertised = listing(store, remote, "fetch from")
        local, tracking = store.list_refs(NAMESPACE), _tracked(store, remote)
        theirs = _git_fetch(store, remote, advertised(), local, tracking, progress)
    else:
        local, tracking = store.list_refs(NAMESPACE), _tracked(store, remote)
        theirs = _dulwich_fetch(store, remote, tracking, progress)
    return Fetched(theirs=theirs, local=local, tracking=tracking)


def bundle_create(
    store: GitStore, path: Path, refs: Iterable[str], *, progress: Progress | None = None
) -> None:
    """Write a git bundle holding ``refs`` and everything they reach."""
    names = sorted(refs)
    if not path.parent.is_dir():  # (git would name its lock file instead)
        raise RemoteError(
            f"cannot write bundle {path}: there is no directory {path.parent} (create it first)"
        )
    tmp = path.with_name(path.name + ".tmp")
    if engine() == "git":
        args = ["bundle", "create", "--progress" if progress else "--quiet", str(tmp), "--stdin"]
        rc, _, err = run_git(store, args, progress=progress, stdin="\n".join(names).encode())
        if rc != 0:
            tmp.unlink(missing_ok=True)
            line = (err.strip().splitlines() or ["git bundle failed"])[-1]
            raise RemoteError(f"cannot write bundle {path}: {line}")
    else:
        _dulwich_bundle_create(store, tmp, path, names)
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise RemoteError(f"cannot write bundle {path}: {e.strerror}") from e


def bundle_import(
    store: GitStore, path: Path, *, progress: Progress | None = None
) -> dict[str, str]:
    """Store a bundle's objects (no ref changes); return its ``refs/gittrack/*`` refs."""
    if not path.is_file():
        raise RemoteError(f"bundle {path} does not exist")
    if engine() == "git":
        rc, out, err = run_git(store, ["bundle", "unbundle", str(path.resolve())])
        if rc != 0:
            line = (err.strip().splitlines() or ["not a bundle"])[-1]
            raise RemoteError(f"cannot read bundle {path}: {line.split(':', 1)[-1].strip()}")
        refs = {}
        for line in out.splitlines():
            sha, _, name = line.partition(" ")
            if name.startswith(NAMESPACE) and len(sha) == 40:
                refs[name] = sha
        return refs
    return _dulwich_bundle_import(store, path)


# -- the fallback engine: dulwich ----------------------------------------------------------
# The fallback engine: dulwich's low-level client (``send_pack`` / ``fetch``) and bundles.
#
# Used when C git is not installed or ``GITTRACK_TRANSPORT=dulwich``; same contract as the
# C git functions of :mod:`gittrack.store.transport`. (``porcelain.push`` fails on wildcard
# refspecs of custom refs and ``porcelain.fetch`` creates no custom refs, so neither is used.)
def _dulwich_client(store: GitStore, remote: Remote, what: str) -> tuple[Any, str]:
    from dulwich.client import get_transport_and_path

    url = remote.push_target if what == "push to" else remote.url
    scheme = _URL_RE.match(url)
    if scheme and scheme.group(0)[:-3].lower() not in _DULWICH_SCHEMES:
        raise _no_transport(remote, what, scheme.group(0)[:-3])
    try:
        return get_transport_and_path(url)
    except Exception as e:  # malformed URL, unsupported scheme
        raise RemoteError(f"{what} {remote.display} failed: {redact(str(e))}") from e


def _dulwich_close(client: Any) -> None:
    """Close a dulwich client; collect the sockets it leaves behind on some paths."""
    import gc
    import warnings

    client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _dulwich_error(remote: Remote, what: str, e: Exception) -> RemoteError:
    from dulwich.client import HTTPUnauthorized
    from dulwich.errors import NotGitRepository

    if isinstance(e, HTTPUnauthorized):
        return RemoteError(
            f"{what} {remote.display}: authentication failed (check the credentials in the URL)"
        )
    text = redact(" ".join(str(e).split())) or type(e).__name__
    if "refused" in text.lower() or isinstance(e, (ConnectionError, TimeoutError)):
        # urllib3 wraps the cause in "HTTPConnectionPool(...): Max retries exceeded ...":
        # the OS error at its end is what the user needs
        errno = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
        cause = errno.group(1).strip() if errno else _short(text, 80)
        return RemoteError(f"{what} {remote.display}: remote unreachable ({cause})")
    if "not a git repository" in text.lower() or isinstance(
        e, (FileNotFoundError, NotGitRepository)
    ):
        return RemoteError(f"{what} {remote.display} failed: no git repository there")
    return RemoteError(f"{what} {remote.display} failed: {_short(text)}")


def _dulwich_push(
    store: GitStore, remote: Remote, refs: list[str] | None, progress: Progress | None
) -> list[RefUpdate]:
    client, path = _dulwich_client(store, remote, "push to")
    local = store.list_refs(NAMESPACE)
    chosen = local if refs is None else {r: local[r] for r in refs if r in local}
    tracking = store.list_refs(remote.tracking_prefix)
    results: dict[str, RefUpdate] = {}

    def update_refs(remote_refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
        new = dict(remote_refs)
        for ref, sha in chosen.items():
            have = remote_refs.get(ref.encode())
            theirs = have.decode() if have else None
            if theirs == sha:
                results[ref] = RefUpdate(ref, "uptodate")
            elif theirs is None or theirs == tracking.get(remote.tracking_ref(ref)):
                # (absent there: creating it overwrites nothing, whatever we saw before)
                new[ref.encode()] = sha.encode()
                results[ref] = RefUpdate(ref, "new" if theirs is None else "updated")
            else:
                results[ref] = RefUpdate(ref, "rejected", "stale info")
        return new

    try:
        result = client.send_pack(
            path,
            update_refs,
            generate_pack_data=store.dulwich.object_store.generate_pack_data,
            progress=progress,
        )
    except Exception as e:
        raise _dulwich_error(remote, "push to", e) from e
    finally:
        _dulwich_close(client)
    for ref, error in (result.ref_status or {}).items():
        name = ref.decode()
        if error is not None and name in results:
            results[name] = RefUpdate(name, "rejected", str(error))
    set_refs(
        store,
        {
            remote.tracking_ref(u.ref): chosen[u.ref]
            for u in results.values()
            if u.status != "rejected"
        },
    )
    return list(results.values())


def _dulwich_fetch(
    store: GitStore, remote: Remote, tracking: dict[str, str], progress: Progress | None
) -> dict[str, str]:
    client, path = _dulwich_client(store, remote, "fetch from")
    repo = store.dulwich
    objects: Any = repo.object_store

    def wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
        return [
            sha
            for ref, sha in refs.items()
            if ref.startswith(NAMESPACE.encode()) and sha not in objects
        ]

    try:
        result = client.fetch(
            path, repo, determine_wants=wants, progress=progress, ref_prefix=[NAMESPACE.encode()]
        )
    except Exception as e:
        raise _dulwich_error(remote, "fetch from", e) from e
    finally:
        _dulwich_close(client)
    theirs = {
        ref.decode(): sha.decode()
        for ref, sha in result.refs.items()
        if sha and ref.startswith(NAMESPACE.encode()) and not ref.endswith(b"^{}")
    }
    forget_gone(store, remote, theirs, tracking)
    set_refs(store, {remote.tracking_ref(r): s for r, s in theirs.items()})
    return theirs


def _dulwich_bundle_create(store: GitStore, tmp: Path, path: Path, names: list[str]) -> None:
    """Write the bundle into ``tmp`` (the caller renames it to ``path``)."""
    from dulwich.bundle import create_bundle_from_repo, write_bundle

    try:
        bundle = create_bundle_from_repo(store.dulwich, [cast(Any, n.encode()) for n in names])
        with bundle, open(tmp, "wb") as f:
            write_bundle(f, bundle)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RemoteError(f"cannot write bundle {path}: {e.strerror}") from e


def _dulwich_bundle_import(store: GitStore, path: Path) -> dict[str, str]:
    """Store a bundle's objects; return its ``refs/gittrack/*`` refs."""
    from dulwich.bundle import read_bundle

    try:
        with open(path, "rb") as f, read_bundle(f) as bundle:
            if bundle.prerequisites:
                raise RemoteError(f"bundle {path} needs commits this repository lacks")
            data = bundle.pack_data
            if data is not None:
                store.dulwich.object_store.add_pack_data(len(data), data.iter_unpacked())
            return {
                r.decode(): s.decode()
                for r, s in bundle.references.items()
                if r.startswith(NAMESPACE.encode())
            }
    except (OSError, ValueError, AssertionError) as e:
        raise RemoteError(f"cannot read bundle {path}: not a git bundle") from e
