"""The pipeline's working folder stays the same size however many loads it has made.

dlt keeps every loaded package in `<pipelines dir>/<name>/load/loaded`: its data files, a copy
of the schema and the pipeline state, ~0.5 MB each for the demo's incremental run. A scheduled
run every 5 minutes adds ~300 packages a day and follow mode one per cycle (~80 in 10 minutes of
edits), so the folder grew without end. The most recent are kept for `dlt pipeline <name> show`
and `info`; every load stays listed in the destination's `_dlt_loads` table.
"""

import os
from typing import List, Optional

import dlt
from dlt.common.storages import LoadStorage, LoadStorageConfiguration

# Loaded packages kept after each run, the newest: what `dlt pipeline <name> show` lists.
KEPT_LOADED_PACKAGES = 10


def prune_loaded_packages(pipeline: dlt.Pipeline, keep: Optional[int] = None) -> List[str]:
    """Deletes all but the `keep` newest loaded packages (`KEPT_LOADED_PACKAGES`), through dlt's
    own load storage.

    Called after a load has committed, never before: a package still to load is in
    `load/normalized`, which this leaves alone.

    Returns:
        The load ids deleted, oldest first.
    """
    keep = KEPT_LOADED_PACKAGES if keep is None else keep
    loaded = sorted(pipeline.list_completed_load_packages(), key=float)
    old = loaded[: max(len(loaded) - keep, 0)]
    if not old:
        return []
    config = LoadStorageConfiguration(load_volume_path=os.path.join(pipeline.working_dir, "load"))
    storage = LoadStorage(False, [], config=config)
    for load_id in old:
        storage.delete_loaded_package(load_id)
    return old
