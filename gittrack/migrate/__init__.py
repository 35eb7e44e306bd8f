"""Moving runs between gittrack and other trackers: import from MLflow, export back.

:func:`gittrack.migrate.importer.import_mlflow` reads an MLflow file store (or, through
its REST API, a tracking server) and writes each run as a gittrack run with the same id.
"""
