{#
  The extract month's calendar. Months are text 'YYYY-MM'.

  extract_month(): the month being built. Dagster sets DTSEN_MONTH to the run's partition for each
  `dbt build`. It is read only while dbt executes (`execute`), never while dbt parses: a value read
  at parse time would be recorded in the manifest, and a new month would make dbt re-parse every
  model that uses it (as `--vars` did: a full re-parse each month). The parse-time placeholder never
  reaches SQL that runs.
#}
{% macro extract_month() -%}
    {%- if execute -%}
        {%- set month = env_var('DTSEN_MONTH') -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])', month) -%}
            {{ exceptions.raise_compiler_error("DTSEN_MONTH must be a month YYYY-MM, not '" ~ month ~ "'") }}
        {%- endif -%}
        {{- return(month) -}}
    {%- endif -%}
    {{- return('0000-01') -}}
{%- endmacro %}

{# The month's last day (the reference date for ages and NIK checks). #}
{% macro month_end(month_expr) -%}
    (last_day(strptime({{ month_expr }} || '-01', '%Y-%m-%d')))::date
{%- endmacro %}

{# The month before the extract month (what month-over-month views compare against). #}
{% macro previous_month() -%}
    strftime(strptime('{{ extract_month() }}-01', '%Y-%m-%d') - interval 1 month, '%Y-%m')
{%- endmacro %}
