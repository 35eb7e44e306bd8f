"""Every call docs/api.md shows exists, and every signature it shows is the code's.

A backticked ``name(params)`` names a function by a dotted path
(``gittrack.query.page.page_runs``, ``Client.create_run``) or bare, found in the modules
the page documents. In the first column of a table, before ``->``, or holding ``*``, it
is a signature: the parameter names, their order, the ``*`` that makes the rest
keyword-only and the literal defaults must be the code's (``...`` stands for parameters
it leaves out). Anywhere else it is a call, which must bind to the code's signature.
The MLflow compatibility table shows MLflow's calls: they must bind too.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# Where a bare or partly qualified name is looked up, in this order.
NAMESPACES = (
    "gittrack",
    "gittrack.Client",
    "gittrack.MlflowClient",
    "gittrack.session",
    "gittrack.index.RunIndex",
    "gittrack.runs",
    "gittrack.entities",
    "gittrack.entities.Metric",
    "gittrack.tracking",
    "gittrack.artifacts.api",
    "gittrack.artifacts.transfer",
    "gittrack.artifacts.gc",
    "gittrack.uris",
    "gittrack.lineage",
    "gittrack.data",
    "gittrack.data.Dataset",
    "gittrack.runner",
    "gittrack.reproduce",
    "gittrack.recovery",
    "gittrack.removal",
    "gittrack.reproduce.Reproduction",
    "gittrack.project",
    "gittrack.project.Project",
    "gittrack.query.page",
    "gittrack.query.diff",
    "gittrack.models.registry",
    "gittrack.models.logged",
    "gittrack.models.api",
    "gittrack.pyfunc",
    "gittrack.sklearn",
    "gittrack.xgboost",
    "gittrack.lightgbm",
    "gittrack.migrate.importer",
    "gittrack.migrate.mlflow_export",
    "gittrack.migrate.parquet_export",
    "gittrack.writer",
    "gittrack.sync",
)
# Backticked text shaped like a call that is prose, not an API: a user's callback, the
# function MLflow's param text is, a URI scheme, an exception's base class.
NOT_SIGNATURES = {
    "str(value)",
    "http(s)",
    "progress(done, total)",
    "use(commit, table)",
    "ModelNotFoundError(ModelError)",
    "SignatureError(ModelError)",
    "mlflow.models.infer_signature(model_input, model_output)",
}
SIGNATURE = re.compile(r"`((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\(([^`()]*)\)(?: -> [^`]*)?`")
PARAM = re.compile(r"^(\*)?([A-Za-z_]\w*)?\s*(?:=\s*(.+))?$")


def _documented() -> list[tuple[str, str, bool]]:
    """(name, params, is a signature) for every call-shaped span of the page."""
    page = DOCS.read_text(encoding="utf-8")
    head, _, mlflow_table = page.partition("\n## MLflow compatibility\n")
    found: dict[tuple[str, str], bool] = {}
    for text, tables_hold_signatures in ((head, True), (mlflow_table, False)):
        text = re.sub(r"\s*\n\s*(?!\|)", " ", text)
        for m in SIGNATURE.finditer(text):
            name, params = m.group(1), m.group(2).strip()
            if f"{name}({params})" in NOT_SIGNATURES:
                continue
            first_cell = text[: m.start()].rsplit("\n", 1)[-1].strip() == "|"
            signature = (
                (first_cell and tables_hold_signatures) or "*" in params or " -> " in m.group(0)
            )
            found[(name, params)] = found.get((name, params), False) or signature
    return [(name, params, sig) for (name, params), sig in found.items()]


def _attr_path(root: Any, parts: list[str]) -> Any:
    for part in parts:
        root = getattr(root, part)
    return root


def _resolve(name: str) -> list[Any]:
    """Every object ``name`` can mean in the documented namespaces."""
    parts = name.split(".")
    if parts[0] == "gittrack":
        parts = parts[1:]
    found = []
    for space in NAMESPACES:
        words = space.split(".")
        for cut in range(len(words), 0, -1):
            try:
                base = importlib.import_module(".".join(words[:cut]))
            except ImportError:
                continue
            try:
                found.append(_attr_path(_attr_path(base, words[cut:]), parts))
            except AttributeError:
                pass
            break
    for cut in range(len(parts), 0, -1):  # a fully qualified module path
        try:
            found.append(
                _attr_path(
                    importlib.import_module(".".join(["gittrack", *parts[:cut]])), parts[cut:]
                )
            )
            break
        except (ImportError, AttributeError):
            continue
    return found


def _split(params: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in params:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [p for p in [*out, cur.strip()] if p]


def _doc_params(params: str) -> tuple[list[tuple[str, str | None]], bool]:
    """(name or '*', default text) pairs, and whether '...' leaves some out."""
    items, partial = [], False
    for raw in _split(params):
        if raw.startswith(("...", "**")):
            partial = True  # `**same options`: the options of another call
            continue
        m = PARAM.match(raw)
        assert m, f"cannot read parameter {raw!r}"
        stars, pname, default = m.groups()
        items.append(("*" if stars and not pname else (pname or "*"), default))
    return items, partial


def _code_params(obj: Any) -> list[tuple[str, Any]]:
    sig = inspect.signature(obj)
    out: list[tuple[str, Any]] = []
    star = False
    for p in sig.parameters.values():
        if p.name in ("self", "cls") or p.name.startswith("_") or p.kind == p.VAR_KEYWORD:
            continue
        if p.kind == p.VAR_POSITIONAL:
            out.append(("*", inspect.Parameter.empty))
            star = True
            continue
        if p.kind == p.KEYWORD_ONLY and not star:
            out.append(("*", inspect.Parameter.empty))
            star = True
        out.append((p.name, p.default))
    return out


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return inspect.Parameter.empty  # a name such as ViewType.ACTIVE_ONLY: not compared


def _fields(obj: Any) -> list[str] | None:
    """The fields of a dataclass or named tuple (what ``Name(fields)`` in prose lists)."""
    if dataclasses.is_dataclass(obj):
        return [f.name for f in dataclasses.fields(obj)]
    fields = getattr(obj, "_fields", None)
    return list(fields) if isinstance(obj, type) and fields is not None else None


def _unbound(params: str, obj: Any) -> str | None:
    """Why a call with these arguments would not bind to ``obj``, or None."""
    fields = _fields(obj)
    listed = [p for p in _split(params) if re.fullmatch(r"[A-Za-z_]\w*", p)]
    if fields is not None and listed == _split(params) and len(listed) > 1:
        return None if listed == fields else f"its fields are {fields}"
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "has no signature"
    args, kwargs = [], {}
    for raw in _split(params):
        m = re.match(r"^([A-Za-z_]\w*)\s*=", raw)
        if m:
            kwargs[m.group(1)] = None
        elif raw != "...":
            args.append(None)
    try:
        sig.bind_partial(*([None] if "self" in sig.parameters else []), *args, **kwargs)
    except TypeError as e:
        return f"the call does not bind: {e}"
    return None


def _mismatch(doc: list[tuple[str, str | None]], partial: bool, obj: Any) -> str | None:
    try:
        code = _code_params(obj)
    except (TypeError, ValueError):
        return "has no signature"
    names = [n for n, _ in code]
    doc_names = [n for n, _ in doc]
    if partial:
        it = iter(names)
        if not all(n in it for n in doc_names):
            return f"code has {names}"
    elif doc_names != names:
        return f"code has {names}"
    defaults = dict(code)
    for pname, text in doc:
        if text is None or pname == "*":
            continue
        want = _literal(text)
        if want is not inspect.Parameter.empty and defaults[pname] != want:
            return f"{pname} defaults to {defaults[pname]!r} in the code"
    return None


DOCUMENTED = _documented()


def test_the_page_documents_signatures() -> None:
    signatures = {name for name, _, signature in DOCUMENTED if signature}
    assert {"start_run", "Client.download_artifacts", "page_runs"} <= signatures


@pytest.mark.parametrize(
    ("name", "params", "signature"), DOCUMENTED, ids=[f"{n}({p})" for n, p, _ in DOCUMENTED]
)
def test_documented_call_is_the_code(name: str, params: str, signature: bool) -> None:
    candidates = _resolve(name)
    assert candidates, f"docs/api.md shows {name}({params}) but gittrack has no {name}"
    if signature:
        doc, partial = _doc_params(params)
        problems = [_mismatch(doc, partial, obj) for obj in candidates]
    else:
        problems = [_unbound(params, obj) for obj in candidates]
    assert None in problems, f"docs/api.md shows {name}({params}); {problems[0]}"


def _returned_shapes() -> list[tuple[str, tuple[str, ...]]]:
    """``-> Name(field, ...)``: the result a call is documented to give, with its fields."""
    text = re.sub(r"\s*\n\s*", " ", DOCS.read_text(encoding="utf-8"))
    found = re.findall(r"-> ([A-Z]\w*)\(([^()`]*)\)", text)
    return sorted({(name, tuple(f.strip() for f in fields.split(","))) for name, fields in found})


@pytest.mark.parametrize(("name", "fields"), _returned_shapes(), ids=lambda v: str(v))
def test_documented_result_has_its_fields(name: str, fields: tuple[str, ...]) -> None:
    candidates = [c for c in _resolve(name) if isinstance(c, type)]
    assert candidates, f"docs/api.md says a call returns {name} but gittrack has no {name}"
    missing = [
        f for f in fields if not any(hasattr(c, f) or f in (_fields(c) or []) for c in candidates)
    ]
    assert missing == [], f"docs/api.md gives {name} the fields {missing}; it has no such"
