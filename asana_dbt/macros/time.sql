{#- Dates and durations the same way on every warehouse: calendar days in UTC, and exact
    durations from epoch seconds (each adapter spells those differently). -#}

{% macro utc_date(ts) -%}
  cast(({{ ts }}) at time zone 'UTC' as date)
{%- endmacro %}

{% macro utc_today() -%}
  {{ utc_date('current_timestamp') }}
{%- endmacro %}

{#- Whole calendar days between two timestamps, as analysts count "days open". -#}
{% macro days_between(start_ts, end_ts) -%}
  {{ dbt.datediff(utc_date(start_ts), utc_date(end_ts), 'day') }}
{%- endmacro %}

{% macro epoch_seconds(ts) -%}
  {{ return(adapter.dispatch('epoch_seconds', 'asana_dbt')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
  extract(epoch from {{ ts }})
{%- endmacro %}

{% macro duckdb__epoch_seconds(ts) -%}
  epoch({{ ts }})
{%- endmacro %}

{#- Exact days (with fractions) between two timestamps: durations such as cycle time. -#}
{% macro fractional_days(start_ts, end_ts) -%}
  cast(({{ epoch_seconds(end_ts) }} - {{ epoch_seconds(start_ts) }}) / 86400.0 as double precision)
{%- endmacro %}

{#- An average as a double on every adapter (Postgres would answer numeric). -#}
{% macro avg_double(expression) -%}
  cast(avg({{ expression }}) as double precision)
{%- endmacro %}
