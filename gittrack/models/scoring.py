"""MLflow's scoring protocol without the HTTP: request bodies in, predictions out.

A body is ``application/json`` with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs`` (optional ``params``) or ``text/csv``;
the answer is ``{"predictions": ...}``. The server (routes, workers, access log) is
:mod:`gittrack.web.scoring`, started by ``gittrack models serve``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from gittrack.errors import GittrackError
from gittrack.models.mlmodel import PyFuncModel

__all__ = ["MAX_BODY_BYTES", "BadRequest", "parse_payload", "predict_json"]

MAX_BODY_BYTES = 50 * 1024 * 1024
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class BadRequest(Exception):
    """The request cannot be scored: HTTP status, error code, one-line message."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _csv_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_payload(body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None]:
    """Turn a request body into (model input, params); raises BadRequest."""
    mime = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"request body is not UTF-8: {e}") from e
    if mime == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise BadRequest(400, "CSV body is empty: send a header row and data rows")
        header, data = rows[0], rows[1:]
        if not data:
            raise BadRequest(400, "CSV body has a header but no data rows")
        if any(len(r) != len(header) for r in data):
            raise BadRequest(400, "CSV rows do not all have as many fields as the header")
        return {h: [_csv_value(r[i]) for r in data] for i, h in enumerate(header)}, None
    if mime != "application/json":
        raise BadRequest(
            415,
            f"unsupported content type {mime!r}: use application/json or text/csv",
            "UNSUPPORTED_MEDIA_TYPE",
        )
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRequest(400, f"request body is not valid JSON: {e}") from e
    if not isinstance(payload, dict):
        raise BadRequest(400, f"JSON body must be an object with one of {', '.join(INPUT_KEYS)}")
    present = [k for k in INPUT_KEYS if k in payload]
    unknown = sorted(set(payload) - set(INPUT_KEYS) - {"params"})
    if len(present) != 1 or unknown:
        raise BadRequest(
            400,
            f"JSON body must have exactly one of {', '.join(INPUT_KEYS)} (and optionally "
            f"params); got {', '.join(sorted(payload)) or 'nothing'}",
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(400, "params must be a JSON object")
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise BadRequest(400, 'dataframe_split must be {"columns": [...], "data": [[...]]}')
        if not value["data"]:
            raise BadRequest(400, "dataframe_split.data is empty: send at least one row")
        columns = value.get("columns")
        data = value["data"]
        if columns is None:
            return data, params
        if not isinstance(columns, list) or any(
            not isinstance(r, list) or len(r) != len(columns) for r in data
        ):
            raise BadRequest(400, "dataframe_split rows must be lists as long as columns")
        return {str(c): [r[i] for r in data] for i, c in enumerate(columns)}, params
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise BadRequest(400, "dataframe_records must be a list of objects")
    elif not isinstance(value, (list, dict)):
        raise BadRequest(400, f"{key} must be a list or an object")
    if not value or (isinstance(value, dict) and all(v == [] for v in value.values())):
        raise BadRequest(400, f"{key} is empty: send at least one row")
    return value, params


def predict_json(model: PyFuncModel, body: bytes, content_type: str) -> bytes:
    """Score one request body: the JSON answer ``{"predictions": ...}``.

    Raises :class:`BadRequest` for the client's mistakes (a body the protocol or the
    model's signature refuses); anything else the model raises propagates.
    """
    data, params = parse_payload(body, content_type)
    try:
        result = model.predict(data, params=params)
    except GittrackError as e:  # the signature refused the input: the client's mistake
        raise BadRequest(400, e.message) from e
    return json.dumps({"predictions": _jsonable(result)}).encode()  # TypeError: a server fault


def _jsonable(result: Any) -> Any:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a DataFrame
        return result.to_dict(orient="records")
    if hasattr(result, "tolist"):
        return result.tolist()
    if isinstance(result, (list, tuple)):
        return [_jsonable(r) for r in result]
    if isinstance(result, dict):
        return {str(k): _jsonable(v) for k, v in result.items()}
    return result
