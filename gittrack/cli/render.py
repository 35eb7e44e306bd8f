"""Output helpers of the CLI: tables (tabulate), JSON, CSV, times, sparklines and plots."""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

from gittrack.errors import ValidationError

FORMATS = ("table", "json", "csv")
SPARK = "▁▂▃▄▅▆▇█"
MAX_CELL = 40


def check_format(fmt: str, allowed: Sequence[str] = FORMATS) -> str:
    """Validate a ``--format`` value."""
    if fmt not in allowed:
        raise ValidationError(f"unknown format {fmt!r} (use {', '.join(allowed)})")
    return fmt


def json_safe(value: Any) -> Any:
    """Make a value JSON-strict: NaN/inf become the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def to_json(data: Any) -> str:
    """Stable, strict JSON (indented, NaN as strings)."""
    import json  # (here: most commands print no JSON)

    return json.dumps(json_safe(data), indent=2, ensure_ascii=False, default=str)


def to_json_lines_array(items: list[Any]) -> str:
    """A JSON array with one compact object per line: strict JSON, fast for long listings."""
    if not items:
        return "[]"
    import json

    parts = []
    for item in items:
        try:
            parts.append(json.dumps(item, ensure_ascii=False, allow_nan=False, default=str))
        except ValueError:  # NaN or infinity somewhere
            parts.append(json.dumps(json_safe(item), ensure_ascii=False, default=str))
    return "[\n  " + ",\n  ".join(parts) + "\n]"


def cell(value: Any, width: int = MAX_CELL) -> str:
    """One value as table text, shortened to ``width`` characters."""
    if type(value) is str and len(value) <= width and value.isprintable():
        return value  # the common case, kept cheap for long listings
    if value is None:
        return ""
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
        if text.lstrip("-").isdigit():
            text += ".0"  # keep 1.0 apart from the integer 1
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """Render rows as a table, JSON (list of objects) or CSV, keeping ``columns`` in order."""
    check_format(fmt)
    if fmt == "json":
        return to_json([{c: r.get(c) for c in columns} for r in rows])
    if fmt == "csv":
        import csv  # (here: only CSV output needs it)

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else json_safe(r.get(c)) for c in columns])
        return buf.getvalue().rstrip("\n")
    return table([[cell(r.get(c)) for c in columns] for r in rows], columns)


def _plain_text(body: list[list[str]], headers: Sequence[str] = ()) -> bool:
    """True when every cell is printable ASCII, or that and the "…" that :func:`cell` ends a
    shortened value with (one column wide, as tabulate measures it): a layout that needs no
    tabulate."""
    return all(_plain(h) for h in headers) and all(_plain(t) for line in body for t in line)


def _plain(text: str) -> bool:
    return text.isprintable() and (text.isascii() or text.replace("…", "").isascii())


def table(body: list[list[Any]], headers: list[str]) -> str:
    """A table in tabulate's "simple" format, cells as text (no number alignment).

    Printable ASCII cells are laid out here, byte for byte as tabulate would: importing
    tabulate costs every command that prints a table about 20 ms (it reads its own
    package metadata), and its per-cell width logic is slow on long listings.
    """
    text = [[str(c) for c in line] for line in body]
    if _plain_text(text, headers):
        return simple_table(text, headers)
    from tabulate import tabulate

    return tabulate(text, headers=headers, tablefmt="simple", disable_numparse=True)


def number_table(body: list[list[Any]], headers: list[str]) -> str:
    """A table in tabulate's "simple" format with its number parsing: a column of integers
    (empty cells allowed) is aligned right. Laid out here when the cells are printable
    ASCII, the numbers integers and no text reads as a number; else by tabulate."""
    right: list[int] = []
    own = True  # False: floats, or text tabulate would read as a number (its own rules)
    for i in range(len(headers)):
        column = [line[i] for line in body if line[i] not in ("", None)]
        ints = [v for v in column if isinstance(v, int) and not isinstance(v, bool)]
        if ints and len(ints) == len(column):
            right.append(i)
        elif any(not isinstance(v, str) or _reads_as_number(v) for v in column):
            own = False
    text = [["" if c is None else str(c) for c in line] for line in body]
    if own and _plain_text(text, headers):
        return simple_table(text, headers, right=right)
    from tabulate import tabulate

    return tabulate(body, headers=headers, tablefmt="simple")


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def simple_table(
    body: list[list[str]], headers: Sequence[str], *, right: Sequence[int] = ()
) -> str:
    """tabulate's "simple" format for printable ASCII cells, byte for byte, in linear time
    (cells lose surrounding whitespace, as tabulate strips it); ``right``: the columns
    aligned right, as tabulate aligns numbers."""
    body = [[t.strip() for t in line] for line in body]
    widths = [len(h) + 2 for h in headers]
    for line in body:
        for i, t in enumerate(line):
            if len(t) > widths[i]:
                widths[i] = len(t)
    just = [str.rjust if i in right else str.ljust for i in range(len(headers))]
    lines = ["  ".join(j(h, w) for h, w, j in zip(headers, widths, just, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for line in body:
        lines.append(
            "  ".join(j(t, w) for t, w, j in zip(line, widths, just, strict=True)).rstrip()
        )
    return "\n".join(lines)


def plain_table(body: list[list[str]]) -> str:
    """tabulate's "plain" format (no headers) for printable ASCII cells, byte for byte."""
    body = [[t.strip() for t in line] for line in body]
    if not body:
        return ""
    widths = [max(len(line[i]) for line in body) for i in range(len(body[0]))]
    return "\n".join(
        "  ".join(t.ljust(w) for t, w in zip(line, widths, strict=True)).rstrip() for line in body
    )


def kv_table(pairs: list[tuple[str, Any]]) -> str:
    """A two-column key/value table without headers."""
    body = [[str(k), cell(v, 80)] for k, v in pairs]
    if _plain_text(body):
        return plain_table(body)
    from tabulate import tabulate

    return tabulate(body, tablefmt="plain", disable_numparse=True)


def human_size(n: int | None) -> str:
    """Bytes as ``512 B``, ``1.5 KiB``, ``8.0 MiB``, ``2.0 GiB``."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def echo_error(message: str) -> None:
    """Print one error line on stderr, as the CLI funnel does."""
    print(f"gittrack: error: {' '.join(message.split())}", file=sys.stderr)


# -- times ---------------------------------------------------------------------------
def local_short(ms: int | None, now_ms: int | None = None) -> str:
    """Local time, short: ``14:03`` today, ``05-01 14:03`` this year, else with the year."""
    if ms is None:
        return ""
    now = time.localtime((now_ms or int(time.time() * 1000)) / 1000)
    t = time.localtime(ms / 1000)
    if t[:3] == now[:3]:
        return time.strftime("%H:%M", t)
    if t.tm_year == now.tm_year:
        return time.strftime("%m-%d %H:%M", t)
    return time.strftime("%Y-%m-%d %H:%M", t)


def duration(start: int | None, end: int | None, status: str = "") -> str:
    """A compact duration (``850ms``, ``42s``, ``3m05s``, ``2h04m``, ``3d04h``)."""
    if start is None:
        return ""
    if end is None:
        if status != "RUNNING":
            return ""
        end = int(time.time() * 1000)
    ms = max(0, end - start)
    if ms < 1000:
        return f"{ms}ms"
    s = ms // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


# -- sparklines and plots --------------------------------------------------------------
def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _resample(values: Sequence[float], width: int) -> list[float]:
    """At most ``width`` points: the mean of each bucket."""
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        lo = i * len(values) // width
        hi = max(lo + 1, (i + 1) * len(values) // width)
        chunk = _finite(values[lo:hi])
        # each term divided first: a sum of values near 1.8e308 would overflow to inf
        out.append(sum(v / len(chunk) for v in chunk) if chunk else math.nan)
    return out


def _fraction(v: float, lo: float, hi: float) -> float:
    """Where ``v`` lies from ``lo`` (0) to ``hi`` (1); halves first, so that the span of
    values near the float limits (1e308 - -1e308) does not overflow to inf."""
    span = hi / 2 - lo / 2
    return 0.0 if span == 0 else (v / 2 - lo / 2) / span


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line unicode sparkline (▁..█); non-finite points are blanks."""
    points = _resample(values, width)
    finite = _finite(points)
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    out = []
    for v in points:
        if not math.isfinite(v):
            out.append(" ")
        elif lo == hi:
            out.append(SPARK[3])
        else:
            out.append(SPARK[min(len(SPARK) - 1, int(_fraction(v, lo, hi) * len(SPARK)))])
    return "".join(out)


def line_plot(
    steps: Sequence[int], values: Sequence[float], *, height: int = 10, width: int = 60
) -> str:
    """A small text plot of value against step: ``height`` rows, a y axis and step range."""
    pts = _resample(values, width)
    finite = _finite(pts)
    if not finite:
        return "(no finite values to plot)"
    lo, hi = min(finite), max(finite)
    grid = [[" "] * len(pts) for _ in range(height)]
    prev: int | None = None
    for x, v in enumerate(pts):
        if not math.isfinite(v):
            prev = None
            continue
        y = round(_fraction(v, lo, hi) * (height - 1))
        grid[height - 1 - y][x] = "●"
        if prev is not None and abs(prev - y) > 1:  # join steep segments vertically
            for yy in range(min(prev, y) + 1, max(prev, y)):
                if grid[height - 1 - yy][x] == " ":
                    grid[height - 1 - yy][x] = "│"
        prev = y
    labels = [f"{hi:.4g}", f"{lo / 2 + hi / 2:.4g}", f"{lo:.4g}"]
    pad = max(len(s) for s in labels)
    lines = []
    for i, row in enumerate(grid):
        label = ""
        if i == 0:
            label = labels[0]
        elif i == height // 2:
            label = labels[1]
        elif i == height - 1:
            label = labels[2]
        lines.append(f"{label:>{pad}} ┤{''.join(row)}")
    first, last = (steps[0], steps[-1]) if steps else (0, 0)
    axis = f"{'':>{pad}} └{'─' * len(pts)}"
    foot = f"{'':>{pad}}  step {first}"
    if last != first:  # the last step ends under the plot's end, at least a space apart
        end = f" step {last}"
        foot += f"{end:>{max(len(end), len(pts) - len(foot) + pad + 2)}}"
    return "\n".join([*lines, axis, foot])
