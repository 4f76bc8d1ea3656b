{#
  The staging contract every source shares: canonical identity columns, normalised by the one
  normaliser per field, with a flag and a reason for every check. Nothing is dropped here.
#}
{% macro stage_identity(source_table) -%}
with raw as (
    select * from {{ source('raw', source_table) }}
),

normalised as (
    select
        source,
        extract_month,
        source || ':' || source_record_id as record_key,
        source_record_id,
        {{ digits_only('nik') }} as nik,
        {{ digits_only('no_kk') }} as no_kk,
        {{ normalise_name('nama') }} as nama_normal,
        {{ parse_date('tanggal_lahir') }} as tanggal_lahir,
        {{ normalise_sex('jenis_kelamin') }} as jenis_kelamin,
        {{ normalise_region('kode_desa') }} as kode_desa,
        tanggal_lahir as tanggal_lahir_raw,
        source_file,
        source_row
    from raw
)

select
    *,
    {{ nik_issue('nik') }} as nik_issue,
    {{ nik_issue('nik') }} is null as nik_valid,
    coalesce({{ nik_issue('nik') }} is null and {{ nik_matches_birth('nik', 'tanggal_lahir', 'jenis_kelamin') }},
             false) as nik_matches_birth,
    tanggal_lahir is null as tanggal_lahir_unparsed,
    substr(kode_desa, 1, 2) as kode_prov,
    substr(kode_desa, 1, 4) as kode_kab
from normalised
{%- endmacro %}
