"""Writes docs/benchmarks.md (tables, ratios, goals) and the raw results as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import CaseResult, Measure
from benchmarks.suite import COMPARISONS, TITLES, Comparison, Goal, Sizes

UNITS = {"s": (1.0, "s"), "ms": (1e3, "ms"), "us": (1e6, "µs")}


def fmt_time(seconds: float, unit: str = "") -> str:
    if not unit:
        unit = "s" if seconds >= 1 else "ms" if seconds >= 1e-3 else "us"
    scale, name = UNITS[unit]
    value = seconds * scale
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{text} {name}"


def fmt_ratio(ratio: float) -> str:
    if ratio < 1:
        return f"{ratio:.3g} ({1 / ratio:.3g}x faster)"
    return f"{ratio:.3g} ({ratio:.3g}x slower)"


@dataclass
class Row:
    tool: str
    measure: str
    label: str
    ops: int
    samples: int
    median: float
    low: float
    high: float
    per_op: float
    ratio: float | None
    goal: str
    status: str  # met / not met / "" / reason


def _status(goal: Goal, gittrack: Measure | None, peer: Measure | None) -> tuple[str, str]:
    if gittrack is None:
        return goal.text, "gittrack n/a"
    if goal.max_seconds is not None:
        ok = gittrack.per_op <= goal.max_seconds
        return goal.text, "met" if ok else "not met"
    if peer is None:
        return goal.text, "peer not run"
    assert goal.max_ratio is not None
    ok = gittrack.per_op / peer.per_op <= goal.max_ratio
    return f"{goal.text} (ratio <= {goal.max_ratio:.3g})", "met" if ok else "not met"


class Report:
    def __init__(self, results: list[CaseResult]) -> None:
        self.by_key = {(r.case.workload, r.case.tool): r for r in results}
        self.results = results

    def measure(self, workload: str, tool: str, name: str) -> Measure | None:
        res = self.by_key.get((workload, tool))
        return res.measures.get(name) if res else None

    def rows(self, cmp: Comparison) -> list[Row]:
        mine = self.measure(cmp.workload, "gittrack", cmp.measure)
        rows: list[Row] = []
        for tool, name in (("gittrack", cmp.measure), *cmp.peers):
            res = self.by_key.get((cmp.workload, tool))
            if res is None:
                continue  # not planned (--only, --scale, --no-peers): said in the header
            m = res.measures.get(name)
            own = (tool, name) == ("gittrack", cmp.measure)  # a floor of gittrack's is a peer
            goals = [
                g
                for g in cmp.goals
                if (g.against == tool and name == _peer_measure(cmp, g))
                or (own and g.against is None)
            ]
            goal_text, status = (
                " / ".join(_status(g, mine, m)[0] for g in goals),
                " / ".join(_status(g, mine, m)[1] for g in goals),
            )
            if m is None:
                reason = res.errors.get(name) or res.error or "not measured"
                rows.append(
                    Row(
                        tool,
                        name,
                        f"not available: {reason}",
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        None,
                        goal_text,
                        status,
                    )
                )
                continue
            ratio = mine.per_op / m.per_op if (mine and not own) else None
            rows.append(
                Row(
                    tool,
                    name,
                    m.label,
                    m.ops,
                    len(m.seconds),
                    m.median,
                    min(m.seconds),
                    max(m.seconds),
                    m.per_op,
                    ratio,
                    goal_text,
                    status,
                )
            )
        return rows

    def goal_summary(self) -> list[tuple[str, str, str]]:
        out = []
        for cmp in COMPARISONS:
            mine = self.measure(cmp.workload, "gittrack", cmp.measure)
            for goal in cmp.goals:
                peer = (
                    self.measure(cmp.workload, goal.against, _peer_measure(cmp, goal))
                    if goal.against
                    else None
                )
                if goal.against and (cmp.workload, goal.against) not in self.by_key:
                    continue
                text, status = _status(goal, mine, peer)
                if mine is None:
                    measured = "gittrack not available"
                elif goal.max_seconds is not None:
                    measured = fmt_time(mine.per_op, cmp.unit)
                elif peer is not None:
                    measured = fmt_ratio(mine.per_op / peer.per_op)
                else:
                    measured = "peer not run"
                number = TITLES[cmp.workload].split(" ", 1)[0]
                out.append((f"{number} {cmp.title}", text, f"{measured} — **{status}**"))
        return out


def _peer_measure(cmp: Comparison, goal: Goal) -> str:
    return next(name for tool, name in cmp.peers if tool == goal.against)


def _table(rows: list[Row], cmp: Comparison) -> list[str]:
    head = ["tool", "what was timed", "ops", "reps", "median", "min – max", "per op"]
    if cmp.rate:
        head.append("ops/s")
    head += ["gittrack / tool", "goal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if not r.samples:
            cells = [f"**{r.tool}**", r.label, "", "", "", "", ""]
            if cmp.rate:
                cells.append("")
        else:
            cells = [
                f"**{r.tool}**",
                r.label,
                f"{r.ops:,}",
                str(r.samples),
                fmt_time(r.median),
                f"{fmt_time(r.low)} – {fmt_time(r.high)}",
                fmt_time(r.per_op, cmp.unit),
            ]
            if cmp.rate:
                cells.append(f"{1 / r.per_op:,.0f}")
        cells.append(fmt_ratio(r.ratio) if r.ratio else "—")
        cells.append(f"{r.goal}: **{r.status}**" if r.goal else "")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def render(
    report: Report,
    *,
    info: dict[str, str],
    command: str,
    date: str,
    sizes: Sizes,
    setup: list[str],
    skipped: list[str],
    wall: float,
) -> str:
    out = [
        "# gittrack benchmarks",
        "",
        "Generated by the suite in `benchmarks/` (see benchmarks/README.md). Each workload "
        "runs in a fresh process per repetition; the tables give the median over the "
        "repetitions, the spread, the time per operation, and gittrack's time per "
        "operation divided by each peer's (below 1: gittrack is faster). Ratios are per "
        "operation (run, call, point, invocation), so a peer measured at a smaller N, "
        'given in "what was timed", still compares. Goals come from the issues that '
        "own each capability. The machine is shared: the load average below says how "
        "busy it was, and ratios are steadier than absolute times. A benchmark is not "
        "a test: nothing here is asserted.",
        "",
        f"- Date (UTC): {date}",
        f"- Command: `{command}`",
        f"- Suite wall time: {wall:.0f} s (peer installs excluded)",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in info.items()]
    out += ["", "## Sizes", "", "| | |", "|---|---|"]
    out += [
        f"| {k} | {v:,} |"
        for k, v in asdict(sizes).items()
        if isinstance(v, int) and not isinstance(v, bool)
    ]
    if setup:
        out += ["", "## Peer environments", ""] + [f"- {s}" for s in setup]
    if skipped:
        out += ["", "## Left out of this run", ""] + [f"- {s}" for s in skipped]
    summary = report.goal_summary()
    if summary:
        out += ["", "## Goals at a glance", "", "| row | goal | measured |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in summary]
    for workload, title in TITLES.items():
        cmps = [c for c in COMPARISONS if c.workload == workload]
        tables = [(c, report.rows(c)) for c in cmps]
        tables = [(c, rows) for c, rows in tables if rows]
        if not tables:
            continue
        out += ["", f"## {title}", ""]
        for cmp, rows in tables:
            out += [f"### {cmp.title}", "", *_table(rows, cmp), ""]
        notes = [
            f"{r.case.tool}: {n}"
            for r in report.results
            if r.case.workload == workload
            for n in r.notes
        ]
        if notes:
            out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out).rstrip() + "\n"


def to_json(report: Report, **meta: Any) -> str:
    comparisons = []
    for cmp in COMPARISONS:
        rows = report.rows(cmp)
        if rows:
            comparisons.append(
                {"workload": cmp.workload, "title": cmp.title, "rows": [asdict(r) for r in rows]}
            )
    data = {**meta, "cases": [r.to_json() for r in report.results], "comparisons": comparisons}
    return json.dumps(data, indent=1, default=str) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
