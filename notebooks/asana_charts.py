"""Charts over the analytics models (asana_dbt/): burn-up, open work, days open, time in sections.

Open it:   python -m marimo edit notebooks/asana_charts.py -- --db .demo/asana_demo.duckdb
Export it: python -m marimo export html notebooks/asana_charts.py -o asana_charts.html -- --db .demo/asana_demo.duckdb

Arguments after `--`: `--db FILE` (a DuckDB file, default the demo's: .demo/asana_demo.duckdb in
this checkout) or `--postgres URL`,
and `--schema NAME` (default asana_data_analytics: where the models are).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Asana analytics")


@app.cell
def _():
    import altair as alt
    import marimo as mo
    import pandas as pd

    # SVG rather than canvas: every bar and line is an element, for screen readers and tests.
    _ = alt.renderers.set_embed_options(renderer="svg", actions=False)
    return alt, mo, pd


@app.cell
def _(mo, pd):
    args = mo.cli_args()
    schema = str(args.get("schema") or "asana_data_analytics")
    postgres = args.get("postgres")
    _here = mo.notebook_dir()  # the notebook's folder (None only where marimo cannot tell)
    db = str(args.get("db") or (_here.parent / ".demo" / "asana_demo.duckdb" if _here else ".demo/asana_demo.duckdb"))

    def query(sql: str) -> pd.DataFrame:
        """Rows of one query on the models' schema, as a DataFrame."""
        sql = sql.replace("{schema}", schema)
        if postgres:
            import psycopg2

            with psycopg2.connect(str(postgres)) as conn, conn.cursor() as cur:
                cur.execute(sql)
                return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
        import duckdb

        with duckdb.connect(db, read_only=True) as conn:
            return conn.sql(sql).df()

    source = f"Postgres schema {schema}" if postgres else f"{db}, schema {schema}"
    mo.md(f"# Asana analytics\nFrom the dbt models in {source} (`asana_dbt/`).")
    return (query,)


@app.cell
def _(alt, mo, query):
    daily = query(
        """
        select date_day, number_of_tasks_created, number_of_tasks_completed, number_of_tasks_open
        from {schema}.asana__daily_metrics order by date_day
        """
    )
    active = daily[(daily.number_of_tasks_created > 0) | (daily.number_of_tasks_completed > 0)]
    last_day = active.date_day.max() if len(active) else daily.date_day.max()
    daily = daily[daily.date_day <= last_day]
    burn = daily.assign(
        created=daily.number_of_tasks_created.cumsum(), completed=daily.number_of_tasks_completed.cumsum()
    ).melt(id_vars=["date_day"], value_vars=["created", "completed"], var_name="tasks", value_name="count")
    burnup = (
        alt.Chart(burn, title="Burn-up: tasks created vs completed")
        .mark_line()
        .encode(
            x=alt.X("date_day:T", title="day"),
            y=alt.Y("count:Q", title="tasks (cumulative)"),
            color=alt.Color("tasks:N", title=None),
        )
        .properties(width=640, height=260)
    )
    mo.vstack([mo.md("## Created vs completed"), burnup])
    return


@app.cell
def _(alt, mo, query):
    by_assignee = query(
        """
        select coalesce(assignee_name, '(unassigned)') as assignee, count(*) as open_tasks
        from {schema}.asana__task where not is_completed group by 1 order by 2 desc
        """
    )
    by_project = query(
        """
        select project_name as project, number_of_open_tasks as open_tasks
        from {schema}.asana__project where number_of_open_tasks > 0 order by 2 desc
        """
    )

    def bars(frame, label, title):
        return (
            alt.Chart(frame, title=title)
            .mark_bar()
            .encode(
                x=alt.X("open_tasks:Q", title="open tasks"),
                y=alt.Y(f"{label}:N", sort="-x", title=None),
                tooltip=[label, "open_tasks"],
            )
            .properties(width=300, height=alt.Step(18))
        )

    mo.vstack([
        mo.md("## Open work"),
        mo.hstack([bars(by_assignee, "assignee", "Open tasks per assignee"),
                   bars(by_project, "project", "Open tasks per project")]),
    ])
    return


@app.cell
def _(alt, mo, query):
    ages = query(
        """
        select days_open, case when is_completed then 'completed (days to close)' else 'open' end as state
        from {schema}.asana__task
        """
    )
    days_open = (
        alt.Chart(ages, title="Distribution of days open")
        .mark_bar()
        .encode(
            x=alt.X("days_open:Q", bin=alt.Bin(maxbins=30), title="days open"),
            y=alt.Y("count():Q", title="tasks"),
            color=alt.Color("state:N", title=None),
        )
        .properties(width=640, height=220)
    )
    mo.vstack([mo.md("## How long work stays open"), days_open])
    return


@app.cell
def _(alt, mo, query):
    stays = query(
        """
        select section_name as section, days_in_section
        from {schema}.asana__task_section_time where section_name is not null
        """
    )
    sections = (
        alt.Chart(stays, title="Time in each section (days)")
        .mark_boxplot(extent="min-max")
        .encode(
            x=alt.X("days_in_section:Q", title="days in section"),
            y=alt.Y("section:N", title=None),
        )
        .properties(width=640, height=alt.Step(22))
    )
    mo.vstack([mo.md("## Where work waits"), sections])
    return


if __name__ == "__main__":
    app.run()
