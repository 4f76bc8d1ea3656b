{#
  The extract month's calendar: its last day (the reference date for ages and NIK checks) and the
  month before it (what month-over-month views compare against). Months are text 'YYYY-MM'.
#}
{% macro month_end(month_expr) -%}
    (last_day(strptime({{ month_expr }} || '-01', '%Y-%m-%d')))::date
{%- endmacro %}

{% macro previous_month() -%}
    strftime(strptime('{{ var("month") }}-01', '%Y-%m-%d') - interval 1 month, '%Y-%m')
{%- endmacro %}
