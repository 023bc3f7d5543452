"""Full loads (and reconciliations) through Asana's resource export: one job per workspace
instead of a request per task.

- `job.py`: one workspace's export job, asked for, waited for within the quota, its file streamed.
- `rows.py`: the file's lines cut into the rows the paged API gives (`tasks`, `stories`, `attachments`).
- `reconcile.py`: one export standing in for the paged reconciliation of a workspace's due projects.
- `scheduler.py`: which workspaces load or reconcile by export, decided once per workspace and run.
"""

from ..settings import EXPORT_PAGE_SIZE
from ..state import JOBS_FILE, JobFile
from .job import ExportJob, ExportUnavailable, Finished, check_full_load, export_fields
from .rows import ExportedTask, ExportPage, exported_children, rows_of
from .scheduler import FullLoads, Outcome

__all__ = [
    "EXPORT_PAGE_SIZE", "JOBS_FILE", "JobFile", "ExportJob", "ExportUnavailable", "Finished", "check_full_load",
    "export_fields", "ExportedTask", "ExportPage", "exported_children", "rows_of", "FullLoads", "Outcome",
]
