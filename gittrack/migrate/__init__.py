"""Moving runs between gittrack and other trackers: import from MLflow, export back.

:func:`gittrack.migrate.importer.import_mlflow` reads an MLflow file store, sqlite
database or (through its REST API) tracking server and writes each run as a gittrack run
with the same id.
"""
