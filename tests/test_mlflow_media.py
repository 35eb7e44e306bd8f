"""MLflow's log_table, log_image, ``gittrack.data`` datasets and ``models.infer_signature``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

import gittrack
import gittrack.data
from gittrack.errors import ArtifactError, InputError, ValidationError
from gittrack.lineage import get_inputs


def _read(run_id: str, path: str, tmp_path: Path) -> bytes:
    return Path(gittrack.download_artifacts(run_id, path, tmp_path)).read_bytes()


def test_log_table_writes_mlflows_json_and_appends(repo: Path, tmp_path: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_table({"q": ["a", "b"], "score": [0.5, 1.0]}, "eval/t.json")
        gittrack.log_table(pd.DataFrame({"q": ["c"], "score": [2.0]}), "eval/t.json")
        gittrack.log_table({"q": "one", "score": 3}, "row.parquet")  # scalars: one row
    rid = run.info.run_id
    doc = json.loads(_read(rid, "eval/t.json", tmp_path / "a"))
    assert doc == {"columns": ["q", "score"], "data": [["a", 0.5], ["b", 1.0], ["c", 2.0]]}
    back = pd.read_parquet(io.BytesIO(_read(rid, "row.parquet", tmp_path / "b")))
    assert back.to_dict("list") == {"q": ["one"], "score": [3]}
    tag = json.loads(gittrack.get_run(rid).data.tags["mlflow.loggedArtifacts"])
    assert tag == [
        {"path": "eval/t.json", "type": "table"},
        {"path": "row.parquet", "type": "table"},
    ]


def test_log_table_errors(repo: Path) -> None:
    with gittrack.start_run():
        with pytest.raises(ArtifactError, match=r"must end with \.json or \.parquet"):
            gittrack.log_table({"a": [1]}, "t.csv")
        with pytest.raises(ArtifactError, match="forbidden ','"):
            gittrack.log_table({"a": [1]}, "a,b.json")
        with pytest.raises(ValidationError, match="dict or a pandas DataFrame"):
            gittrack.log_table([1, 2], "t.json")
        with pytest.raises(ArtifactError, match="cannot write the table"):
            gittrack.log_table({"a": [object()]}, "t.parquet")


def test_log_image_from_numpy_and_pil(repo: Path, tmp_path: Path) -> None:
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[0, 0] = [255, 0, 0]
    with gittrack.start_run() as run:
        gittrack.log_image(pixels, "img/a.png")
        gittrack.log_image(np.full((3, 3), 0.5), "gray.jpg")
        gittrack.log_image(Image.new("RGB", (300, 100)), key="dogs/big", step=3, timestamp=7)
    rid = run.info.run_id
    img = Image.open(io.BytesIO(_read(rid, "img/a.png", tmp_path / "a")))
    assert img.size == (6, 4) and img.getpixel((0, 0)) == (255, 0, 0)
    assert Image.open(io.BytesIO(_read(rid, "gray.jpg", tmp_path / "b"))).format == "JPEG"
    stepped = sorted((f.path for f in gittrack.list_artifacts(rid, "images")), key=len)
    assert len(stepped) == 2
    assert stepped[0].startswith("images/dogs~big+step+3+timestamp+7+")
    assert stepped[0].endswith(".png") and stepped[1].endswith("+compressed.webp")
    small = Image.open(io.BytesIO(_read(rid, stepped[1], tmp_path / "c")))
    assert max(small.size) == 200
    assert gittrack.get_run(rid).data.tags["mlflow.loggedImages"] == "True"


def test_log_image_errors(repo: Path) -> None:
    with gittrack.start_run():
        with pytest.raises(ValidationError, match="either artifact_file, or key"):
            gittrack.log_image(np.zeros((2, 2)))
        with pytest.raises(ValidationError, match="either artifact_file, or key"):
            gittrack.log_image(np.zeros((2, 2)), "a.png", step=1)
        with pytest.raises(ValidationError, match="within \\[0, 1\\]"):
            gittrack.log_image(np.full((2, 2), 2.0), "a.png")
        with pytest.raises(ValidationError, match="not an image"):
            gittrack.log_image(np.zeros((2, 2, 5), dtype=np.uint8), "a.png")
        with pytest.raises(ValidationError, match="numpy array or a PIL image"):
            gittrack.log_image("a.png", "b.png")
        with pytest.raises(ArtifactError, match=r"suffix such as \.png"):
            gittrack.log_image(np.zeros((2, 2), dtype=np.uint8), "noext")
        with pytest.raises(ValidationError, match="image key"):
            gittrack.log_image(np.zeros((2, 2), dtype=np.uint8), key="a:b")


def test_datasets_feed_log_input_with_their_content_digest(repo: Path) -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    ds = gittrack.data.from_pandas(df, source="data/train.csv", targets="y", name="train")
    same = gittrack.data.from_pyarrow(pa.Table.from_pandas(df, preserve_index=False))
    assert ds.digest == same.digest and ds.digest.startswith("sha256:")
    assert (ds.name, same.name, ds.targets, ds.source) == (
        "train",
        "dataset",
        "y",
        "data/train.csv",
    )
    assert ds.profile == {"num_rows": 2, "num_elements": 4}
    assert ds.schema == {"x": "double", "y": "int64"} and ds.df is df
    arrays = gittrack.data.from_numpy(np.arange(6).reshape(3, 2), targets=np.array([0, 1, 0]))
    assert arrays.table.column_names == ["features", "targets"] and arrays.targets == "targets"
    assert arrays.to_dict()["profile"] == {"num_rows": 3, "num_elements": 6}
    with gittrack.start_run() as run:
        gittrack.log_input(ds, context="training")
        gittrack.log_input(arrays, context="eval")
    (first, second) = get_inputs(run.info.run_id)
    assert (first["name"], first["context"], first["digest"], first["source"]) == (
        "train",
        "training",
        ds.digest,
        "data/train.csv",
    )
    assert (second["name"], second["kind"], second["rows"]) == ("dataset", "table", 3)
    found = gittrack.search_runs(filter_string=f"datasets.digest = '{ds.digest}'",
                                 output_format="rows")  # fmt: skip
    assert [r["run_id"] for r in found] == [run.info.run_id]


def test_dataset_errors() -> None:
    df = pd.DataFrame({"x": [1]})
    with pytest.raises(InputError, match="targets column 'y' is not in the table"):
        gittrack.data.from_pandas(df, targets="y")
    with pytest.raises(InputError, match="is not the content digest"):
        gittrack.data.from_pandas(df, digest="abc")
    with pytest.raises(InputError, match="different lengths"):
        gittrack.data.from_numpy({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(InputError, match="not a numpy array"):
        gittrack.data.from_numpy([1, 2])


def test_infer_signature_under_mlflows_name() -> None:
    import gittrack.models

    sig = gittrack.models.infer_signature(pd.DataFrame({"a": [1.0]}), np.array([1]))
    assert isinstance(sig, gittrack.models.ModelSignature)
    assert json.loads(sig.to_dict()["inputs"] or "") == [
        {"type": "double", "name": "a", "required": True}
    ]
