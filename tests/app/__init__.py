"""The application's tests (asana_app, asana_dlt_pipeline.py): CLI, unattended runs, memory, analytics, lakehouse, orchestrators, Postgres, the source copied alone."""
