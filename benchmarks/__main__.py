"""``python -m benchmarks``: run the suite and write docs/benchmarks.md.

Examples::

    python -m benchmarks                      # default sizes, MLflow and DVC side by side
    python -m benchmarks --quick              # CI smoke: tiny sizes, no peers, < 60 s
    python -m benchmarks --only list,startup  # some workloads (or tools: --only gittrack,git)
    python -m benchmarks --scale 10000        # 10,000 runs for gittrack and C git
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import itertools
import shlex
import sys
import time
from pathlib import Path

from benchmarks import envs, report
from benchmarks.harness import Harness
from benchmarks.suite import COMPARISONS, WORKLOADS, Sizes, fixtures, plan

HERE = Path(__file__).resolve().parent
TOOLS = ("gittrack", "git", "mlflow-file", "mlflow-sqlite", "mlflow", "dvc")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="runs in the store (e.g. 10000, 100000); peers stay at default "
        "size unless --peer-scale",
    )
    p.add_argument(
        "--peer-scale",
        action="store_true",
        help="with --scale: run MLflow and DVC at N too (hours at 10,000+)",
    )
    p.add_argument("--reps", type=int, help="repetitions per case (default 3; 1 with --quick)")
    p.add_argument(
        "--heavy-reps",
        type=int,
        help="repetitions of peer cases that take a minute each (default 1)",
    )
    p.add_argument(
        "--only",
        help=f"comma-separated workloads {','.join(WORKLOADS)} "
        f"and/or tools {','.join(TOOLS)} (both: the cases "
        "matching both)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes, no peers: a smoke run for CI (< 60 s)"
    )
    p.add_argument("--no-peers", action="store_true", help="gittrack and C git only")
    p.add_argument("--peers", action="store_true", help="with --quick: run the peers too")
    p.add_argument(
        "--no-install",
        action="store_true",
        help="never create the peers' venvs; skip peers that lack one",
    )
    p.add_argument("--setup-only", action="store_true", help="install the peers' venvs and stop")
    p.add_argument(
        "--out",
        type=Path,
        help="markdown report (default docs/benchmarks.md; "
        "with --quick benchmarks/.work/suite/benchmarks-quick.md)",
    )
    p.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const=HERE / "results.json",
        default=None,
        help="also write raw results (default path benchmarks/results.json)",
    )
    # its own directory: the suite empties it at start, and the UI and other benchmarks
    # keep their built repositories beside it under .work/
    p.add_argument(
        "--workdir", type=Path, default=HERE / ".work" / "suite", help="scratch directory"
    )
    p.add_argument(
        "--reuse-fixtures",
        action="store_true",
        help="keep fixtures and scratch files after the run, and reuse "
        "the fixtures left by the previous one (faster iteration)",
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    started = time.perf_counter()
    load_at_start = envs.loadavg()
    creation_at_start = envs.file_creation(args.workdir)
    no_peers = (args.quick and not args.peers) or args.no_peers
    if args.quick:
        sizes = Sizes.quick()
    elif args.scale:
        sizes = Sizes.scaled(args.scale, peer_scale=args.peer_scale)
    else:
        sizes = Sizes()
    if args.heavy_reps:
        sizes = Sizes(**{**sizes.__dict__, "heavy_reps": args.heavy_reps})
    reps = args.reps or (1 if args.quick else 3)

    only = {x.strip() for x in args.only.split(",")} if args.only else set()
    unknown = only - set(WORKLOADS) - set(TOOLS)
    if unknown:
        print(f"unknown --only names: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    cases = plan(sizes, scaled=bool(args.scale))
    if only & set(WORKLOADS):
        cases = [c for c in cases if c.workload in only]
    if only & set(TOOLS):
        wanted = {t for t in only if t in TOOLS}
        cases = [c for c in cases if c.tool in wanted or c.tool.split("-")[0] in wanted]

    skipped = list(sizes.skipped)
    environments = {"gittrack": envs.system_env()}
    setup_notes = []
    for name in ("mlflow", "dvc"):
        needed = any(c.env == name for c in cases)
        if no_peers:
            env = envs.peer_env(name, install=False)
            env.available, env.note = False, "peers off (--quick/--no-peers)"
        elif needed or args.setup_only:
            env = envs.peer_env(name, install=not args.no_install)
        else:
            continue
        environments[name] = env
        if not env.available:
            skipped.append(f"{name}: {env.note}")
        else:
            setup_notes.append(
                f"{name}: `{envs.PINS[name]}` in "
                f"`{env.python.parent.parent.relative_to(envs.ROOT)}` "
                f"({env.note})"
            )
    if args.setup_only:
        for line in setup_notes + skipped:
            print(line)
        return 0
    cases = [c for c in cases if c.env in environments and environments[c.env].available]

    # The checkout's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE
    # set (CI images often set it), every gittrack process would compile its modules again
    # (about 50 ms of CPU for what `gittrack push` imports).
    compileall.compile_dir(str(envs.ROOT / "gittrack"), quiet=1)
    harness = Harness(
        workdir=args.workdir,
        envs=environments,
        reps=reps,
        timeout=args.timeout,
        fixtures=fixtures(sizes),
        reuse_fixtures=args.reuse_fixtures,
    )
    results = []
    for _, group in itertools.groupby(cases, key=lambda c: c.alternate or id(c)):
        together = list(group)
        for case in together:
            print(f"[{case.workload}] {case.tool}", flush=True)
        for res in harness.run_cases(together):
            status = f"error: {res.error}" if res.error else "ok"
            print(f"[{res.case.workload}] {res.case.tool}: {status} ({res.wall:.1f} s)", flush=True)
            results.append(res)

    harness.cleanup()
    wall = time.perf_counter() - started
    info = envs.machine_info(environments)
    info["load average (1, 5, 15 min), start / end"] = f"{load_at_start} / {envs.loadavg()}"
    info["creating an empty file in the scratch directory, start / end"] = (
        f"{creation_at_start} / {envs.file_creation(args.workdir)}"
    )
    command = "python -m benchmarks" + ("" if not argv else " " + shlex.join(argv))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    rep = report.Report(results)
    out = args.out or (
        args.workdir / "benchmarks-quick.md" if args.quick else envs.ROOT / "docs" / "benchmarks.md"
    )
    report.write(
        out,
        report.render(
            rep,
            info=info,
            command=command,
            date=date,
            sizes=sizes,
            setup=setup_notes,
            skipped=skipped,
            wall=wall,
        ),
    )
    if args.json:
        report.write(
            args.json,
            report.to_json(
                rep,
                machine=info,
                command=command,
                date=date,
                sizes=sizes.__dict__,
                reps=reps,
                skipped=skipped,
                wall_seconds=wall,
            ),
        )
    print_summary(rep)
    print(f"\nwrote {out}" + (f" and {args.json}" if args.json else "") + f" in {wall:.0f} s")
    return 0


def print_summary(rep: report.Report) -> None:
    print("\n== results (median per op; ratio = gittrack / tool) ==")
    for cmp in COMPARISONS:
        rows = rep.rows(cmp)
        if not rows:
            continue
        print(f"\n{cmp.workload}: {cmp.title}")
        for r in rows:
            if not r.samples:
                print(f"  {r.tool:26} {r.label}")
                continue
            ratio = f"  ratio {report.fmt_ratio(r.ratio)}" if r.ratio else ""
            goal = f"  [{r.goal}: {r.status}]" if r.goal else ""
            tool = r.tool if r.measure == cmp.measure else f"{r.tool} ({r.measure})"
            print(
                f"  {tool:26} {report.fmt_time(r.per_op, cmp.unit):>10} per op "
                f"({report.fmt_time(r.median)} total){ratio}{goal}"
            )


if __name__ == "__main__":
    sys.exit(main())
