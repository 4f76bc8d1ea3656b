{#
  The correction sources (role: correction in config/sources/*.yaml: proposals, objections, field
  visits). They link to persons but are not registers: a golden field, a person's sources and the
  update progress read the registers only, and a correction changes a golden field only once it is
  verified (models/intermediate/int_koreksi.sql).
#}
{% macro correction_sources() -%}
{{ return(registry_sources() | selectattr('role', 'equalto', 'correction') | map(attribute='source') | list) }}
{%- endmacro %}

{# SQL: the source in `column` is a register (not a correction source). #}
{% macro is_register(column) -%}
{%- set names = correction_sources() -%}
{%- if names -%}
{{ column }} not in ({% for n in names %}'{{ n }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- else -%}
true
{%- endif -%}
{%- endmacro %}
