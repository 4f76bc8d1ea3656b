{#
  Post-hook of every model and seed: tells Dagster what was built, while dbt runs, on the
  connection that built it. DuckDB takes one writer, so Dagster cannot query the warehouse until
  dbt exits (dagster-dbt's fetch_row_counts() and fetch_column_metadata() wait for that on DuckDB,
  which would hold back every event of the step until its end).

  One log line: dtsen_dagster_metadata {"columns": [[name, type], ...], "row_count": n}, the count
  for tables and seeds only (counting a view would run it again). dtsen_pipeline/defs/dbt/assets.py
  adds them to the model's materialisation as dagster/column_schema and dagster/row_count.
  Column names, types and a count: never a value.
#}
{% macro report_to_dagster() -%}
    {%- if execute -%}
        {%- set columns = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do columns.append([column.name, column.dtype]) -%}  {#- as DuckDB names it: VARCHAR, DECIMAL(18,3) -#}
        {%- endfor -%}
        {%- set row_count = none -%}
        {%- if config.get('materialized') in ('table', 'incremental', 'seed') -%}
            {%- set row_count = run_query('select count(*) from ' ~ this).columns[0].values()[0] | int -%}
        {%- endif -%}
        {%- do log('dtsen_dagster_metadata ' ~ tojson({'columns': columns, 'row_count': row_count}), info=True) -%}
    {%- endif -%}
{%- endmacro %}
