"""Dagster: one asset per Asana table, wired as the source feeds them, loaded daily.

`dagster dev -f orchestrate/dagster_defs.py` (from the repository root, after
`pip install -r requirements.txt -r requirements-dagster.txt`). The destination is dlt's:
`ASANA_DLT_DESTINATION` (default duckdb, file `asana.duckdb`) plus the usual `DESTINATION__*`
config; the token comes from `.dlt/secrets.toml` or `SOURCES__ASANA_DLT__ACCESS_TOKEN`.
`ASANA_DLT_TABLE_FORMAT` delta/iceberg with `filesystem` loads a lakehouse the way the CLI does.
"""

import os
from typing import Any, Iterator

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Definitions,
    MaterializeResult,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from asana_dlt import asana_source
from asana_app.lakehouse import check_merges, mirror_run, source_options

ASSET_PREFIX = "asana"


class AsanaTranslator(DagsterDltTranslator):
    """Asset keys `asana/<table>`, each depending on the resource that feeds it.

    Why: dagster-dlt's default hangs every transformer off one outside key named after the
    root resource, so the UI shows eight unrelated assets; ours shows workspaces -> projects
    -> tasks -> stories, the order in which Asana is actually read.
    """

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        resource = data.resource
        pipe = resource._pipe  # dlt exposes a transformer's feeding resource only on its pipe
        deps = [AssetKey([ASSET_PREFIX, pipe.parent.name])] if pipe.has_parent else []
        return spec.replace_attributes(key=AssetKey([ASSET_PREFIX, resource.name]), deps=deps, group_name="asana")


def make_pipeline() -> dlt.Pipeline:
    """The same pipeline the CLI runs, so a Dagster run and a CLI run continue each other's state."""
    return dlt.pipeline(
        pipeline_name="asana",
        destination=os.environ.get("ASANA_DLT_DESTINATION", "duckdb"),
        dataset_name=os.environ.get("ASANA_DLT_DATASET", "asana_data"),
    )


# The graph of resources is all Dagster needs at import time; the token resolves when a run starts.
_shape = asana_source(access_token="resolved-when-the-run-starts")


@dlt_assets(
    dlt_source=_shape,
    dlt_pipeline=make_pipeline(),
    name="asana",
    dagster_dlt_translator=AsanaTranslator(),
)
def asana_assets(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
    """Loads what changed since the last run; row counts land on each asset's materialization."""
    table_format = os.environ.get("ASANA_DLT_TABLE_FORMAT") or None
    source = asana_source(**source_options(table_format))
    pipeline = make_pipeline()
    if table_format:  # dagster-dlt's run is dlt's `run`, which cannot keep a lakehouse exact
        yield from lakehouse_materializations(context, dlt, source, pipeline, table_format)
        return
    check_merges(pipeline, source, table_format)
    yield from dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=pipeline,
        dagster_dlt_translator=AsanaTranslator(),
    ).fetch_row_count()


def lakehouse_materializations(
    context: AssetExecutionContext, resource: DagsterDltResource, source: Any, pipeline: dlt.Pipeline, table_format: str
) -> Iterator[MaterializeResult]:
    """What `DagsterDltResource.run` does, with the CLI's lakehouse run in place of dlt's `run`.

    Why: on Delta/Iceberg a run can pass a task twice, which dlt's `upsert` refuses ("MERGE
    matched a target row with multiple source rows"), and it neither adds Iceberg columns safely
    nor deletes the nested rows a task lost; `lakehouse.mirror_run` does all three. The asset
    subset, the dropped local state (restored from the lake) and the metadata are dagster-dlt's;
    the row counts come from dlt's dataset (dagster-dlt's unqualified `count(*)` finds no table
    on the filesystem destination).
    """
    translator = AsanaTranslator()
    tables = {
        translator.get_asset_spec(DltResourceTranslatorData(resource=r, pipeline=pipeline)).key: r
        for r in source.selected_resources.values()
    }
    if context.is_subset:
        tables = {key: r for key, r in tables.items() if key in context.selected_asset_keys}
        source = source.with_resources(*(r.name for r in tables.values()))
    if pipeline.config.restore_from_destination:
        pipeline.drop()  # as dagster-dlt does: a failed run's leftovers never block the next one
    info = mirror_run(pipeline, source, table_format)
    info.raise_on_failed_jobs()
    loaded = set(pipeline.default_schema.data_table_names(seen_data_only=True))
    names = {key: r.table_name for key, r in tables.items() if r.table_name in loaded}
    counts = dict(pipeline.dataset().row_counts(table_names=sorted(set(names.values()))).fetchall())
    for key, table in tables.items():
        metadata = resource.extract_resource_metadata(context, table, info, pipeline)
        row_count = {"dagster/row_count": counts[names[key]]} if key in names else {}  # Dagster's own key
        yield MaterializeResult(asset_key=key, metadata={**row_count, **metadata})


# Daily at 06:00 UTC; `ASANA_DLT_SCHEDULE` (a cron expression, e.g. "*/5 * * * *") runs it more
# often: each run loads only what changed, and a run still going makes the next one wait its turn.
asana_daily = ScheduleDefinition(
    job=define_asset_job("asana_daily", selection=[asana_assets]),
    cron_schedule=os.environ.get("ASANA_DLT_SCHEDULE") or "0 6 * * *",
    execution_timezone="UTC",
)

defs = Definitions(assets=[asana_assets], schedules=[asana_daily], resources={"dlt": DagsterDltResource()})
