"""MLflow's REST wire format: request fields in, entities and errors out.

Requests carry their fields as a JSON body (POST, PATCH, DELETE) or as a query string
(GET, repeated keys for lists). Numbers may come as JSON numbers or as strings (protobuf's
JSON form of int64 and of non-finite doubles: ``"NaN"``, ``"Infinity"``); answers use the
same form, so a NaN metric reads back as NaN in every client. Errors are MLflow's
``{"error_code": ..., "message": ...}`` with MLflow's HTTP status for each code.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gittrack.errors import (
    AmbiguousRunError,
    ArtifactNotFoundError,
    ConcurrencyError,
    GittrackError,
    RunNotActiveError,
    RunNotFoundError,
    RunStateError,
    StorageError,
)
from gittrack.web.http import (
    Guard,
    Handler,
    HTTPError,
    Request,
    Response,
    Router,
    json_bytes,
    json_response,
)

__all__ = [
    "SEARCH_DEFAULT_RESULTS",
    "SEARCH_MAX_RESULTS",
    "api_route",
    "artifact_uri",
    "error_response",
    "fields",
    "finite",
    "get_float",
    "get_int",
    "get_list",
    "get_str",
    "key_values",
    "max_results",
    "mlflow_error",
    "number",
    "ok",
    "ok_encoded",
    "page_offset",
    "page_token",
    "paged",
    "pairs",
]

SEARCH_MAX_RESULTS = 50_000
SEARCH_DEFAULT_RESULTS = 1000

# MLflow's error codes and the HTTP status its server answers each with.
STATUS = {
    "BAD_REQUEST": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}


def mlflow_error(code: str, message: str, status: int | None = None) -> HTTPError:
    """An error answer in MLflow's shape (``code`` one of MLflow's error codes)."""
    return HTTPError(status if status is not None else STATUS[code], message, code)


def error_response(error: Exception) -> Response | None:
    """The MLflow answer to a library error a handler raised (None: not ours to map)."""
    if not isinstance(error, GittrackError):
        return None
    if isinstance(error, RunNotFoundError | ArtifactNotFoundError) or (
        type(error).__name__.endswith("NotFoundError")
    ):
        code = "RESOURCE_DOES_NOT_EXIST"
    elif isinstance(error, RunNotActiveError):  # MLflow's code for it
        code = "INVALID_PARAMETER_VALUE"
    elif isinstance(error, RunStateError):
        code = "INVALID_STATE"
    elif isinstance(error, ConcurrencyError):
        code = "TEMPORARILY_UNAVAILABLE"
    elif isinstance(error, StorageError):
        code = "INTERNAL_ERROR"
    elif isinstance(error, AmbiguousRunError):
        code = "INVALID_PARAMETER_VALUE"
    else:
        code = "INVALID_PARAMETER_VALUE"
    return json_response({"error_code": code, "message": error.message}, STATUS[code])


def artifact_uri(experiment_id: str, run_id: str) -> str:
    """Where MLflow clients send a run's artifacts: this server's proxied store."""
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def ok(data: Mapping[str, Any] | None = None) -> Response:
    """A 200 answer with ``data`` (``{}`` by default)."""
    return json_response(dict(data or {}))


def ok_encoded(name: str, items: list[bytes], data: Mapping[str, Any]) -> Response:
    """A 200 answer ``{name: [items], **data}`` whose list items are JSON already."""
    rest = json_bytes(dict(data))[1:-1]  # the other fields, without their braces
    body = b"{" + json_bytes(name) + b":[" + b",".join(items) + b"]"
    return Response(200, body + (b"," + rest if rest else b"") + b"}", "application/json")


# -- reading request fields -----------------------------------------------------------------
def fields(request: Request) -> dict[str, Any]:
    """The request's fields: its JSON body, or for GET its query string."""
    if request.method in ("GET", "HEAD"):
        return {k: v[0] if len(v) == 1 else v for k, v in request.query.items()}
    data = request.json()
    if not isinstance(data, dict):
        raise mlflow_error("INVALID_PARAMETER_VALUE", "request body must be a JSON object")
    return data


def _missing(name: str) -> HTTPError:
    return mlflow_error("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'")


def get_str(data: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field; absent or empty is an error when ``required``."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _missing(name)
        return None
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict | bool):
        raise mlflow_error(
            "INVALID_PARAMETER_VALUE", f"Invalid value {value!r} for parameter '{name}'"
        )
    return str(value)


def get_int(data: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    """An integer field given as a JSON number or a decimal string."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _missing(name)
        return None
    if isinstance(value, list):
        value = value[0]
    if isinstance(value, bool):
        value = None
    try:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int | str):
            return int(value)
    except ValueError:
        pass
    raise mlflow_error(
        "INVALID_PARAMETER_VALUE",
        f"Invalid value {value!r} for parameter '{name}' supplied: an integer is expected",
    )


def get_list(data: Mapping[str, Any], name: str) -> list[str]:
    """A list of strings: a JSON list, or repeated query keys (one string: a list of it)."""
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    raise mlflow_error("INVALID_PARAMETER_VALUE", f"'{name}' must be a list of strings")


_SPECIAL = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf}


def get_float(data: Mapping[str, Any], name: str) -> float:
    """A required double: a JSON number, or "NaN" / "Infinity" / "-Infinity" / digits."""
    value = data.get(name)
    if value is None:
        raise _missing(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise mlflow_error(
        "INVALID_PARAMETER_VALUE",
        f"Invalid value {value!r} for parameter '{name}' supplied: a number is expected",
    )


def key_values(data: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    """A list of ``{"key": ..., "value": ...}`` objects (tags, params) as pairs."""
    items = data.get(name) or []
    if not isinstance(items, list):
        raise mlflow_error("INVALID_PARAMETER_VALUE", f"'{name}' must be a list of key/value")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise mlflow_error("INVALID_PARAMETER_VALUE", f"'{name}' must be a list of key/value")
        key = get_str(item, "key")
        value = item.get("value")
        out.append((str(key), "" if value is None else str(value)))
    return out


# -- writing answers ------------------------------------------------------------------------
def number(value: float) -> float | str:
    """A double as protobuf's JSON writes it (non-finite values as strings)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def finite(value: Any) -> Any:
    """``value`` unchanged unless it is a non-finite float (then its protobuf string)."""
    return number(value) if isinstance(value, float) else value


# -- paging ---------------------------------------------------------------------------------
def page_offset(data: Mapping[str, Any]) -> int:
    """The offset a ``page_token`` (from a previous answer) names; 0 without one."""
    token = get_str(data, "page_token", required=False)
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError, UnicodeError):
        pass
    raise mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid page token {token!r}")


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def max_results(data: Mapping[str, Any], default: int, limit: int) -> int:
    value = get_int(data, "max_results")
    if value is None:
        return default
    if value < 1 or value > limit:
        raise mlflow_error(
            "INVALID_PARAMETER_VALUE",
            f"Invalid value {value} for parameter 'max_results' supplied: "
            f"it must be between 1 and {limit}",
        )
    return value


def paged(items: list[Any], offset: int, size: int) -> tuple[list[Any], dict[str, str]]:
    end = offset + size
    more = {"next_page_token": page_token(end)} if end < len(items) else {}
    return items[offset:end], more


def api_route(router: Router) -> Callable[[str, str], Callable[[Handler], Handler]]:
    """A decorator factory for ``/api/2.0/mlflow/<path>`` routes: writes are guarded by
    "preflight" (JSON bodies, PUT/PATCH/DELETE: nothing a page can send cross-site)."""

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        guard: Guard = "none" if method == "GET" else "preflight"
        return router.route(method, "/api/2.0/mlflow/" + path, guard=guard)

    return route


def pairs(items: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """``[(key, value)]`` as MLflow's list of ``{"key", "value"}`` objects."""
    return [{"key": k, "value": v} for k, v in items]
