"""Scheduled loads: Dagster definitions, an Airflow DAG and a GitHub Actions workflow to copy."""
