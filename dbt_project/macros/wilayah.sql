{#
  One row per kabupaten: its code, its name and its province's name, from the village reference
  (ref_wilayah). For the marts that name a kabupaten known only by its code (a source that carries no
  village, a worker's kabupaten, a count per kabupaten).
#}
{% macro kabupaten_names() -%}
    select distinct
        kode_kab,
        nama_kabupaten,
        nama_provinsi
    from {{ ref('ref_wilayah') }}
{%- endmacro %}
