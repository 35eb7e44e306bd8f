"""Tables and images as run artifacts, in MLflow's layouts (``log_table``, ``log_image``).

pandas (tables) and Pillow (images; numpy arrays are converted) are imported only here,
when called: neither is a dependency of gittrack.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

from gittrack.errors import ArtifactError, ValidationError

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # MLflow's list of the run's tables
LOGGED_IMAGES_TAG = "mlflow.loggedImages"
_FORBIDDEN = ('"', "'", ",", ":", "[", "]", "{", "}")  # MLflow refuses these in table paths
_IMAGE_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
_COMPRESSED_MAX = 200  # pixels of the longer side of the compressed copy, as MLflow


def _pandas(what: str) -> Any:
    try:
        import pandas
    except ImportError as e:
        raise ValidationError(f"{what} needs pandas (pip install 'gittrack[pandas]')") from e
    return pandas


def check_table_file(artifact_file: str) -> None:
    """MLflow's rules for a table's path: .json or .parquet, no quotes, commas, brackets."""
    for char in _FORBIDDEN:
        if char in artifact_file:
            raise ArtifactError(f"table path {artifact_file!r} contains forbidden {char!r}")
    if not artifact_file.endswith((".json", ".parquet")):
        raise ArtifactError(
            f"table path {artifact_file!r} must end with .json or .parquet (its format)"
        )


def table_frame(data: Any) -> Any:
    """A dict (columns, or one row of scalars) or a DataFrame as a DataFrame."""
    pd = _pandas("log_table")
    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, dict):
        raise ValidationError(
            f"log_table takes a dict or a pandas DataFrame, got {type(data).__name__}"
        )
    try:
        return pd.DataFrame(data)
    except ValueError:  # only scalars: one row, as MLflow
        return pd.DataFrame([data])


def appended(existing: bytes, frame: Any, artifact_file: str) -> Any:
    """The table stored as ``existing`` bytes with the rows of ``frame`` after its own."""
    pd = _pandas("log_table")
    if artifact_file.endswith(".json"):
        old = pd.read_json(io.StringIO(existing.decode("utf-8")), orient="split")
    else:
        old = pd.read_parquet(io.BytesIO(existing))
    return pd.concat([old, frame], ignore_index=True)


def table_bytes(frame: Any, artifact_file: str) -> bytes:
    """A DataFrame as MLflow writes a table: JSON ``split`` without index, or Parquet."""
    try:
        if artifact_file.endswith(".json"):
            text = frame.to_json(orient="split", index=False, date_format="iso")
            return str(text).encode("utf-8")
        out = io.BytesIO()
        frame.to_parquet(out, index=False)
        return out.getvalue()
    except (TypeError, ValueError, OverflowError) as e:
        raise ArtifactError(f"cannot write the table {artifact_file!r}: {e}") from e


def logged_artifacts_tag(current: str | None, artifact_file: str) -> str | None:
    """MLflow's ``mlflow.loggedArtifacts`` tag with this table added (None: unchanged)."""
    try:
        entries = json.loads(current) if current else []
    except ValueError:
        entries = []
    entry = {"path": artifact_file, "type": "table"}
    if entry in entries:
        return None
    return json.dumps([*entries, entry])


def pil_image(image: Any) -> Any:
    """A PIL image from a PIL image or a numpy array (HxW, HxWx1/3/4; floats in [0, 1])."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ValidationError("log_image needs Pillow (pip install pillow)") from e
    if isinstance(image, Image.Image):
        return image
    if type(image).__module__ == "numpy" and type(image).__name__ == "ndarray":
        return _from_array(image, Image)
    raise ValidationError(
        f"log_image takes a numpy array or a PIL image, got {type(image).__name__}"
    )


def _from_array(array: Any, image_module: Any) -> Any:
    import numpy as np

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValidationError(
            f"log_image: an array of shape {array.shape} is not an image "
            "(use H x W, H x W x 1, 3 or 4)"
        )
    if array.dtype.kind == "f":
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ValidationError("log_image: float pixel values must be within [0, 1]")
        array = (array * 255).round().astype(np.uint8)
    elif array.dtype.kind in "iub":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValidationError("log_image: integer pixel values must be within [0, 255]")
        array = array.astype(np.uint8)
    else:
        raise ValidationError(f"log_image: pixel type {array.dtype} is not supported")
    return image_module.fromarray(array)


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """The image encoded in the format its file name says (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    suffix = "." + artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else ""
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ArtifactError(f"image path {artifact_file!r}: give a suffix such as .png or .jpg")
    out = io.BytesIO()
    try:
        image.save(out, format=fmt)
    except (OSError, ValueError) as e:  # e.g. RGBA as JPEG
        raise ArtifactError(f"cannot write the image {artifact_file!r}: {e}") from e
    return out.getvalue()


def compressed(image: Any) -> Any:
    """The small copy MLflow's UI shows (longer side at most 200 pixels)."""
    small = image.copy()
    small.thumbnail((_COMPRESSED_MAX, _COMPRESSED_MAX))
    return small


def image_step_paths(key: str, step: int, timestamp: int) -> tuple[str, str]:
    """Where MLflow keeps a time-stepped image and its compressed copy."""
    if not _IMAGE_KEY.match(key):
        raise ValidationError(
            f"image key {key!r}: use letters, digits, '_', '-', '.', ' ' and '/' only"
        )
    base = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    return f"{base}.png", f"{base}+compressed.webp"
