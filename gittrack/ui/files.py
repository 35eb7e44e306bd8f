"""What the UI serves besides JSON: the page, its static files, the charting libraries,
and run artifacts.

Artifacts are a run's data, not the UI's code: they are served with
``Content-Security-Policy: sandbox`` (a document opened from them gets an opaque origin
and runs no script in the UI's) and ``nosniff``; HTML is shown only inside an
``<iframe sandbox>``; paths go through the artifact store's confinement.
"""

from __future__ import annotations

import html
import importlib.util
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gittrack.errors import ValidationError
from gittrack.ui.api import Repository, on_error
from gittrack.web.http import HTTPError, Request, Response, Router, json_response

STATIC = Path(__file__).parent / "static"
SANDBOX = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
TABLE_ROWS = 500
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# Shown as text whatever mimetypes says (logs, configs, code).
_TEXT_SUFFIXES = {".txt", ".log", ".json", ".yaml", ".yml", ".md", ".py", ".toml", ".cfg", ".ini"}


@dataclass(frozen=True)
class Library:
    """A browser library served by the UI from the Python package that ships it (the
    ``ui`` extra), located without importing the package."""

    package: str
    file: str  # inside the package's directory
    before: bytes = b""  # put before the file as served (the file itself is left as is)

    def path(self) -> Path:
        """The installed file; 404 with the reason when it is not there."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise HTTPError(
                404,
                f"{self.package} is not installed (pip install 'gittrack[ui]')",
                "RESOURCE_DOES_NOT_EXIST",
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        if not path.is_file():
            raise HTTPError(
                404, f"{path} is missing from the {self.package} package", "RESOURCE_DOES_NOT_EXIST"
            )
        return path


VENDOR = "/ui/vendor/"
# Chromium (136 on) compiles the functions of a script that starts with this comment on a
# background thread while the file arrives, instead of on the page's main thread as each
# is first called, most of them while a chart page opens (V8's explicit compile hints;
# other browsers read a comment).
EAGER_COMPILE = b"//# allFunctionsCalledOnLoad\n"
# by the name the page asks for: uPlot draws the metric lines, Plotly.js the parallel
# coordinates and the scatter (loaded when they are scrolled to)
LIBRARIES = {
    "uPlot.iife.js": Library("uplot", "static/uPlot.iife.js"),
    "uPlot.min.css": Library("uplot", "static/uPlot.min.css"),
    "plotly.min.js": Library("plotly", "package_data/plotly.min.js", EAGER_COMPILE),
}
FOREVER = "public, max-age=31536000, immutable"


def vendor_url(name: str) -> str:
    """Where the page loads the library ``name`` from: the address names the installed file
    (size and modification time), so the browser keeps it for good and an upgrade changes
    the address. Browsers keep the compiled code of a script only beside a cached copy,
    and compiling Plotly.js costs a chart page more than anything else: a later visit
    skips it."""
    try:
        stat = LIBRARIES[name].path().stat()
    except (HTTPError, OSError):
        return VENDOR + name  # answered 404 with the reason, which the page shows
    return f"{VENDOR}{name}?v={stat.st_size:x}-{stat.st_mtime_ns:x}"


def _static(path: Path, *, cache: str, before: bytes = b"") -> Response:
    """The file at ``path``, after the bytes ``before``."""
    try:
        data = before + path.read_bytes()
    except OSError as e:
        raise HTTPError(404, f"no file {path.name}", "RESOURCE_DOES_NOT_EXIST") from e
    kind = _TYPES.get(path.suffix, "application/octet-stream")
    return Response(200, data, kind, {"Cache-Control": cache})


def _vendor(q: Request) -> Response:
    """A library, kept for good when asked for at its current address (:func:`vendor_url`)."""
    name = q.params["name"]
    library = LIBRARIES.get(name)
    if library is None:
        raise HTTPError(404, f"no library {name!r}", "RESOURCE_DOES_NOT_EXIST")
    current = q.arg("v") is not None and f"{VENDOR}{name}?v={q.arg('v')}" == vendor_url(name)
    return _static(library.path(), cache=FOREVER if current else "no-cache", before=library.before)


def page(token: str) -> Response:
    """index.html with the server's token (every write sends it back) and the addresses
    of the charting libraries."""
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    text = text.replace("{{TOKEN}}", html.escape(token, quote=True))
    for name in LIBRARIES:
        text = text.replace("{{" + name + "}}", html.escape(vendor_url(name), quote=True))
    headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    return Response(200, text.encode("utf-8"), "text/html; charset=utf-8", headers)


def _artifact_type(path: str, data: bytes) -> str:
    """The content type an artifact is served with. Text in UTF-8 says so: a browser
    reads an HTML or CSV file that names no charset as windows-1252 (accents as
    mojibake); other bytes are left to the browser's own guess."""
    suffix = Path(path).suffix.lower()
    if suffix in _TEXT_SUFFIXES or Path(path).name == "MLmodel":
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return guessed
        return guessed + "; charset=utf-8"
    return guessed


def read_artifact(repo: Repository, ref: str, path: str) -> tuple[str, bytes]:
    """(clean path, bytes) of one artifact file of a run, verified and confined."""
    from gittrack.artifacts.client_api import artifacts_of

    with repo.store() as (index, store):
        rid = repo.resolve(index, ref)
        arts = artifacts_of(store)
        base, entries = arts.select(rid, path)
        if len(entries) != 1 or entries[0].path != base:
            raise ValidationError(f"artifact {base!r} is a directory, not a file")
        buf = io.BytesIO()
        arts.write_to(rid, entries[0], buf)
    return base, buf.getvalue()


def table_preview(name: str, data: bytes) -> dict[str, Any]:
    """The first rows of a CSV or Parquet file as ``{"columns", "rows", "total"}``: a CSV
    file's cells as the text it holds, a Parquet file's as their values."""
    import pyarrow as pa

    try:
        if name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            # the first rows only (the whole table, through pq.read_table's pyarrow.dataset
            # and pandas imports, took 0.3-0.4 s at 2,000,000 rows); the count is in the footer
            parquet = pq.ParquetFile(pa.BufferReader(data))
            total = parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
            head = parquet.schema_arrow.empty_table() if batch is None else batch
        else:
            import pyarrow.csv as pacsv

            # every cell as the text in the file ("0.0", "010", "1e-3" and "" stay so):
            # the header from the first block, then every column read as a string
            names = pacsv.open_csv(pa.BufferReader(data)).schema.names
            as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
            table = pacsv.read_csv(pa.BufferReader(data), convert_options=as_text)
            total, head = table.num_rows, table.slice(0, TABLE_ROWS)
    except (pa.ArrowException, OSError) as e:
        raise ValidationError(f"{name} cannot be read as a table: {e}") from e
    columns = head.column_names
    values = [head.column(c).to_pylist() for c in columns]
    rows = [[_cell(col[i]) for col in values] for i in range(head.num_rows)]
    return {"columns": columns, "rows": rows, "total": total}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)


def build(repo: Repository, token: str) -> Router:
    """Routes of the page, its static files, the charting libraries and artifacts."""
    r = Router()
    r.add("GET", "/", lambda q: page(token))
    r.add("GET", "/ui", lambda q: page(token))

    @r.route("GET", "/ui/static/{name}")
    def static(q: Request) -> Response:
        name = q.params["name"]
        if name not in {p.name for p in STATIC.iterdir()}:
            raise HTTPError(404, f"no static file {name!r}", "RESOURCE_DOES_NOT_EXIST")
        return _static(STATIC / name, cache="no-cache")

    r.add("GET", VENDOR + "{name}", _vendor)

    @r.route("GET", "/ui/artifact/{run}/{path:path}")
    def artifact(q: Request) -> Response:
        path, data = read_artifact(repo, q.params["run"], q.params["path"])
        headers = {
            "Content-Security-Policy": SANDBOX,
            "Cache-Control": "no-cache",
            "Content-Disposition": "inline",
        }
        return Response(200, data, _artifact_type(path, data), headers)

    @r.route("GET", "/ui/api/table/{run}/{path:path}")
    def table(q: Request) -> Response:
        path, data = read_artifact(repo, q.params["run"], q.params["path"])
        return json_response(table_preview(path, data))

    r.on_error = on_error
    return r
