"""``run.inputs``: a run's recorded inputs as MLflow's ``RunInputs`` of ``DatasetInput``s,
the same through every call that returns a ``Run``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa

import gittrack
from gittrack.entities import Dataset, DatasetInput, InputTag, Run, RunInputs, mlflow_dataset
from gittrack.lineage.inputs import record_dataset, replace_input_op
from gittrack.migrate.source import dataset_input
from gittrack.session import reset

CONTEXT = "mlflow.data.context"


def _every_read(run_id: str) -> list[Run]:
    """The run through each call that builds a ``Run``."""
    searched = gittrack.MlflowClient().search_runs(["0"], f"attributes.run_id = '{run_id}'")
    return [
        gittrack.get_run(run_id),
        gittrack.Client().get_run(run_id),
        gittrack.MlflowClient().get_run(run_id),
        *searched,
    ]


def test_logged_inputs_read_back_as_mlflow_dataset_inputs_everywhere(repo: Path) -> None:
    """A table (unicode name, column and context), a file and a dataset as an MLflow
    client sends it read back with MLflow's fields through get_run, both clients,
    search_runs and last_active_run."""
    (repo / "train.csv").write_text("a,b\n1,2\n")
    table = pa.table({"größe": [1, 2, 3], "label": ["x", "y", "ü"]})
    with gittrack.start_run() as run:
        table_info = gittrack.log_input(table, name="ünï train", context="trainïng ☃")
        file_info = gittrack.log_input("train.csv")
        record_dataset(
            gittrack.Client(),
            run.info.run_id,
            name="iris (train) ☃",
            digest="d41d8cd9",
            source='{"uri": "s3://b/iris.csv"}',
            source_type="s3",
            context="eval",
            schema='{"mlflow_colspec": [{"type": "long", "name": "a"}]}',
            profile='{"num_rows": 3}',
            tags={"split": "tëst ☃"},
        )
    colspec = [{"type": "int64", "name": "größe"}, {"type": "string", "name": "label"}]
    expected = RunInputs(
        dataset_inputs=[
            DatasetInput(
                dataset=Dataset(
                    name="ünï train",
                    digest=table_info.digest,
                    source_type="local",
                    source=json.dumps({"uri": "<table>"}),
                    schema=json.dumps({"mlflow_colspec": colspec}),
                    profile=json.dumps({"num_rows": 3}),
                ),
                tags=[InputTag(CONTEXT, "trainïng ☃")],
            ),
            DatasetInput(
                dataset=Dataset(
                    name="train.csv",
                    digest=file_info.digest,
                    source_type="local",
                    source=json.dumps({"uri": "train.csv"}),
                ),
                tags=[],
            ),
            DatasetInput(
                dataset=Dataset(
                    name="iris (train) ☃",
                    digest="d41d8cd9",
                    source_type="s3",
                    source='{"uri": "s3://b/iris.csv"}',
                    schema='{"mlflow_colspec": [{"type": "long", "name": "a"}]}',
                    profile='{"num_rows": 3}',
                ),
                tags=[InputTag(CONTEXT, "eval"), InputTag("split", "tëst ☃")],
            ),
        ],
    )
    reads = _every_read(run.info.run_id)
    assert len(reads) == 4
    last = gittrack.last_active_run()
    assert last is not None
    for got in [*reads, last]:
        assert got.inputs == expected
        assert got.inputs.model_inputs == []
    first = reads[0].inputs.dataset_inputs[0]  # read as MLflow code reads it
    assert (first.dataset.name, first.dataset.digest) == ("ünï train", table_info.digest)
    assert json.loads(first.dataset.schema or "")["mlflow_colspec"][0]["name"] == "größe"
    assert (first.tags[0].key, first.tags[0].value) == (CONTEXT, "trainïng ☃")

    def listed() -> dict[str, object]:
        rows = gittrack.search_runs(output_format="rows")
        return dict(rows[0]["inputs"]["ünï train"]["schema"])

    assert listed() == {"größe": "int64", "label": "string"}  # the list rows carry it too
    gittrack.search_runs(output_format="rows")[0]["inputs"]["ünï train"]["schema"].clear()
    assert listed() == {"größe": "int64", "label": "string"}  # a copy: the index's row intact


def test_a_run_without_inputs_has_no_dataset_inputs(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_param("p", 1)
    for got in _every_read(run.info.run_id):
        assert got.inputs.dataset_inputs == [] and got.inputs.model_inputs == []
    with gittrack.start_run() as active:  # the active run, as it records them
        assert active.inputs == RunInputs()
        gittrack.log_input(pa.table({"a": [1]}), name="t", context="eval")
        assert [d.tags for d in active.inputs.dataset_inputs] == [[InputTag(CONTEXT, "eval")]]


def test_an_imported_mlflow_dataset_reads_back_with_the_fields_it_came_with(repo: Path) -> None:
    """A search row keeps the MLflow fields an import recorded, as the run read whole has."""
    client = gittrack.Client()
    rid = client.create_run("imported").info.run_id
    entry = dataset_input(
        name="wine",
        digest="abc123",
        source_type="http",
        source='{"url": "https://example.org/wine.csv"}',
        schema=None,
        profile='{"num_rows": 5}',
        tags={CONTEXT: "training"},
    )
    client.writable(rid).apply(replace_input_op(entry))
    client.set_terminated(rid)
    expected = DatasetInput(
        dataset=Dataset(
            name="wine",
            digest="abc123",
            source_type="http",
            source='{"url": "https://example.org/wine.csv"}',
            profile='{"num_rows": 5}',
        ),
        tags=[InputTag(CONTEXT, "training")],
    )
    exp_id = client.get_run(rid).info.experiment_id
    searched = gittrack.MlflowClient().search_runs([exp_id])
    assert [r.inputs.dataset_inputs for r in (client.get_run(rid), *searched)] == [[expected]] * 2


def test_an_index_of_schema_10_reads_the_runs_with_inputs_again(repo: Path) -> None:
    """An index written before rows kept an input's schema is upgraded in place: the runs
    with inputs are read again, the others kept."""
    with gittrack.start_run() as run:
        gittrack.log_input(pa.table({"a": [1]}), name="t")
    with gittrack.start_run():
        pass
    before = _every_read(run.info.run_id)[-1].inputs  # builds the index
    assert len(_every_read(run.info.run_id)) == 4
    assert before.dataset_inputs[0].dataset.schema is not None
    reset()
    index_file = repo / ".git/gittrack/index.sqlite"
    plain = sqlite3.connect(index_file)  # as an index of schema 10 was
    plain.execute("UPDATE runs SET doc = json_remove(doc, '$.inputs.t.schema')")
    plain.execute("UPDATE meta SET value='10' WHERE key='schema'")
    plain.execute("UPDATE meta SET value='0ld' WHERE key='generation'")  # no cached rows
    plain.commit()
    plain.close()
    assert _every_read(run.info.run_id)[-1].inputs == before
    plain = sqlite3.connect(index_file)
    assert plain.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("11",)
    assert plain.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    plain.close()


def test_hand_edited_input_tags_that_are_not_a_mapping_read_as_none() -> None:
    """An ``inputs.yaml`` edited by hand cannot make a run unreadable through ``inputs``."""
    sent = {"kind": "dataset", "digest": "d", "source": "s", "context": "train"}
    for tags in ("{not json", "[1, 2]", "3"):
        assert mlflow_dataset("x", {**sent, "input_tags": tags})[1] == {CONTEXT: "train"}
    imported = {"mlflow": {"digest": "d", "source_type": "s3", "source": "s", "tags": [1]}}
    assert mlflow_dataset("x", imported) == (
        {"name": "x", "digest": "d", "source_type": "s3", "source": "s"},
        {},
    )
