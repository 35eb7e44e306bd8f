"""Data lineage benchmarks: hashing throughput vs ``sha256sum``, and re-logging a cached
10,000-file directory vs logging it the first time.

    python benchmarks/lineage_bench.py [--size-mib 1024] [--files 10000]

Everything is created under a temporary directory in /tmp and deleted afterwards.
Times are the best of ``--repeat`` runs (page cache warm for both tools).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HASH_CHILD = (
    "import sys, time; from pathlib import Path; "
    "from gittrack.lineage.hashing import hash_path; "
    "t = time.perf_counter(); d = hash_path(Path(sys.argv[1])); "
    "print(time.perf_counter() - t, d.digest)"
)


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def bench_big_file(tmp: Path, size_mib: int, repeat: int) -> None:
    big = tmp / "big.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(size_mib):
            f.write(block)
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm cache

    def sha256sum() -> None:
        subprocess.run(["sha256sum", str(big)], stdout=subprocess.DEVNULL, check=True)

    t_sum = best(sha256sum, repeat)
    in_proc = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run(
            [sys.executable, "-c", HASH_CHILD, str(big)],
            capture_output=True,
            text=True,
            check=True,
        )
        in_proc.append(float(out.stdout.split()[0]))
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t_gt = min(in_proc)
    mib = size_mib
    print(f"file {mib} MiB: sha256sum {t_sum:.2f} s ({mib / t_sum:.0f} MiB/s); ", end="")
    print(f"gittrack {t_gt:.2f} s ({mib / t_gt:.0f} MiB/s); ratio {t_gt / t_sum:.2f}x; ", end="")
    print(f"child peak RSS {max(rss, before) / 1024:.0f} MiB (includes the interpreter)")
    big.unlink()


def bench_directory(tmp: Path, files: int, file_kib: int, repeat: int) -> None:
    import gittrack
    from gittrack.lineage.cache import HashCache
    from gittrack.lineage.hashing import hash_path

    repo = tmp / "repo"
    data = repo / "data"
    for i in range(files):
        sub = data / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(file_kib * 1024))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    # Files modified within 2 s of hashing are not trusted from the cache (racy-git rule).
    time.sleep(2.1)
    os.chdir(repo)

    t = time.perf_counter()
    out = subprocess.run(
        f"find data -type f -print0 | xargs -0 sha256sum > {tmp / 'sums.txt'}",
        shell=True,
        check=True,
    )
    t_sum = time.perf_counter() - t
    del out

    with gittrack.start_run():
        t = time.perf_counter()
        gittrack.log_input("data", name="train")
        t_first = time.perf_counter() - t
        relog = []
        for _ in range(repeat):
            t = time.perf_counter()
            gittrack.log_input("data", name="train")
            relog.append(time.perf_counter() - t)
    t_nocache = best(lambda: hash_path(data, None), repeat)
    cache = HashCache(repo / ".git" / "gittrack" / "hashcache.sqlite")
    t_cached = best(lambda: hash_path(data, cache), repeat)
    hits = cache.hits
    cache.close()
    print(
        f"dir {files} files x {file_kib} KiB: find|xargs sha256sum {t_sum:.2f} s; first log_input "
        f"{t_first:.2f} s; re-log (cache) {min(relog):.3f} s "
        f"({t_first / min(relog):.0f}x faster); hash_path no cache {t_nocache:.2f} s, "
        f"cached {t_cached:.3f} s ({hits} hits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--file-kib", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gittrack-lineage-bench-", dir="/tmp"))
    home = os.getcwd()
    try:
        os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
        os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
        bench_big_file(tmp, args.size_mib, args.repeat)
        bench_directory(tmp, args.files, args.file_kib, args.repeat)
    finally:
        os.chdir(home)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
