"""Run search: MLflow's filter and order_by grammar, evaluated over index rows."""
