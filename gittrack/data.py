"""MLflow's ``mlflow.data`` names: datasets for ``log_input``.

``gittrack.log_input(gittrack.data.from_pandas(df, name="train"), context="training")``
records the table by its content digest (see docs/lineage.md).
"""

from __future__ import annotations

from gittrack.lineage.datasets import Dataset, from_numpy, from_pandas, from_pyarrow

__all__ = ["Dataset", "from_numpy", "from_pandas", "from_pyarrow"]
