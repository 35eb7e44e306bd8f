"""Text and JSON views of one run, a run comparison and metric histories (for the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.cli import render as out
from gittrack.query.views import iso_utc

if TYPE_CHECKING:
    from collections.abc import Iterable

    from gittrack.query.diff import RunDiff
    from gittrack.query.views import MetricSeries
    from gittrack.runs import LoadedRun

SUMMARY_HEAD = 5


def section(title: str, table: str) -> str:
    body = "\n".join("  " + line for line in table.splitlines())
    return f"\n{title}\n{body}"


def show_text(
    loaded: LoadedRun, *, packages: bool = False, children: list[dict[str, Any]] | None = None
) -> str:
    """A run as text; ``children`` (search rows of the runs nested in it) listed last."""
    from gittrack.format import run_tags

    r = loaded.record
    src = r.source
    code = (src.get("commit") or "(no commit)")[:12]
    if src.get("branch"):
        code += f" ({src['branch']})"
    if src.get("dirty"):
        code += " + uncommitted changes"
    info: list[tuple[str, Any]] = [
        ("run", r.run_id),
        ("name", r.name),
        ("experiment", r.experiment),
        ("status", r.status if r.lifecycle_stage == "active" else f"{r.status} (deleted)"),
        ("start", f"{iso_utc(r.start_time)}"),
        ("end", iso_utc(r.end_time) or ""),
        ("duration", out.duration(r.start_time, r.end_time, r.status)),
        ("user", f"{r.user}@{r.host}" if r.host else r.user),
        ("run commit", loaded.commit),
        ("code", code),
    ]
    if r.parent_run_id:
        info.append(("parent run", r.parent_run_id))
    if r.command.get("argv"):
        info.append(("command", " ".join(str(a) for a in r.command["argv"])))
    parts = [out.kv_table(info)]
    if r.params:
        parts.append(section("params", out.kv_table(sorted(r.params.items()))))
    if r.metrics:
        rows = [[k, out.cell(m.value), m.step, m.count] for k, m in sorted(r.metrics.items())]
        parts.append(section("metrics", out.table(rows, ["key", "value", "step", "steps"])))
    parts.append(section("tags", out.kv_table(sorted(run_tags(r).items()))))
    if r.artifacts:
        rows = [[p, (e or {}).get("size", "")] for p, e in sorted(r.artifacts.items())]
        parts.append(section("artifacts", out.number_table(rows, ["path", "size"])))
    if r.inputs:
        from gittrack.lineage.hashing import short

        rows = [
            [out.cell(i.get("name")), short(i.get("digest")), out.cell(i.get("context"))]
            for i in r.inputs
            if isinstance(i, dict)
        ]
        parts.append(section("inputs", out.table(rows, ["name", "digest", "context"])))
    env = r.environment
    pkgs = env.get("packages") or {}
    env_rows: list[tuple[str, Any]] = [
        ("python", f"{env.get('python', '?')} ({env.get('implementation', '?')})"),
        ("platform", env.get("platform", "?")),
        ("packages", f"{len(pkgs)}" + ("" if packages else " (--packages lists them)")),
    ]
    parts.append(section("environment", out.kv_table(env_rows)))
    if packages and isinstance(pkgs, dict):
        parts.append(section("packages", out.kv_table(sorted(pkgs.items()))))
    if children:
        rows = [[c["run_id"][:8], c["name"], c["status"]] for c in children]
        parts.append(section("children", out.table(rows, ["run", "name", "status"])))
    return "\n".join(parts)


def _rel(value: float | None) -> str:
    return "" if value is None else f"{value:+.2%}"


def diff_text(a: LoadedRun, b: LoadedRun, d: RunDiff) -> str:
    """The table view of ``gittrack diff``."""
    c = out.cell
    parts = [
        out.kv_table(
            [("A", f"{a.record.run_id[:8]} {a.record.name}"),
             ("B", f"{b.record.run_id[:8]} {b.record.name}")]
        )
    ]  # fmt: skip
    same = len(set(a.record.params) & set(b.record.params)) - sum(
        1 for p in d.params if p["change"] == "changed"
    )
    if d.params:
        rows = [[p["key"], c(p["a"]), c(p["b"]), p["change"]] for p in d.params]
        table = out.table(rows, ["param", "A", "B", "change"])
        parts.append(section(f"params ({same} identical)", table))
    else:
        parts.append(f"\nparams: identical ({same})")
    if d.metrics:
        rows = [
            [m["key"], c(m["a"]), c(m["b"]), c(m["delta"]), _rel(m["relative"])] for m in d.metrics
        ]
        table = out.table(rows, ["metric", "A", "B", "change", "rel"])
        parts.append(section("metrics", table))
    for title, items in (("tags", d.tags), ("environment", d.environment)):
        if items:
            rows = [[i["key"], c(i["a"]), c(i["b"])] for i in items]
            table = out.table(rows, ["tag" if title == "tags" else "key", "A", "B"])
            parts.append(section(title, table))
    if d.inputs:
        changed = [i for i in d.inputs if i.get("change") != "same"]
        if changed:
            keys = list(changed[0])
            table = out.table([[c(i.get(k)) for k in keys] for i in changed], keys)
            parts.append(section("inputs", table))
        else:
            parts.append(f"\ninputs: identical ({len(d.inputs)})")
    if d.code is not None:
        parts.append(section("code", d.code.rstrip("\n") or "(no code changes)"))
    return "\n".join(parts)


def metric_text(key: str, series: MetricSeries, plot: bool, everything: bool) -> str:
    """A metric's history as text: a sparkline, then its points (the first and last
    ``SUMMARY_HEAD`` of a long history unless ``everything``); only shown points are
    formatted."""
    count, values = len(series), series.values
    head = f"{key}  ({count} points, last {out.cell(values[-1])})  {out.sparkline(values)}"
    rows: Iterable[int | None] = range(count)
    if not everything and count > 4 * SUMMARY_HEAD:
        rows = [*range(SUMMARY_HEAD), None, *range(count - SUMMARY_HEAD, count)]
        head += f"\n({count - 2 * SUMMARY_HEAD} points not shown; --all shows every point)"
    shown = [
        ["…", "…", "…"]
        if i is None
        else [series.steps[i], out.cell(values[i]), iso_utc(series.timestamps[i])]
        for i in rows
    ]
    text = head + "\n" + out.table(shown, ["step", "value", "timestamp"])
    if plot:
        text += "\n\n" + out.line_plot(series.steps, values)
    return text
