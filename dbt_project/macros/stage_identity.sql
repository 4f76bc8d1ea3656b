{#
  The staging contract every source shares: the canonical identity columns, normalised by the one
  normaliser per field (macros/normalise.sql), with a flag and a reason for every check. Nothing is
  dropped here; intermediate.identity_issues lists every flagged value with its file and row.
  Each source's model (generated from config/sources/<name>.yaml) is one call of this macro.
  The schema is declared once, in dtsen_pipeline/ingest/sources.py, and generated into the registry
  macros: the raw table's canonical columns read here (canonical_columns()) and the staged columns
  returned, in order (staged_columns()); the SQL below computes each staged column.
#}
{% macro stage_identity(source_table, date_formats=[]) -%}
with raw as (
    select
        source,
        extract_month,
        source_file,
        source_row,
    {%- for column in canonical_columns() %}
        {{ column }},
    {%- endfor %}
        attributes
    from {{ source('raw', source_table) }}
),

normalised as (
    select
        source,
        extract_month,
        source || ':' || source_record_id as record_key,
        source_record_id,
        source_file,
        source_row,
        {{ digits_only('nik') }} as nik,
        {{ digits_only('no_kk') }} as no_kk,
        {{ normalise_name('nama') }} as nama_normal,
        {{ name_script_issue('nama') }} as nama_script_issue,
        {{ father_name('nama') }} as nama_ayah,
        {{ parse_date('tanggal_lahir', date_formats) }} as tanggal_lahir,
        tanggal_lahir as tanggal_lahir_raw,
        {{ normalise_sex('jenis_kelamin') }} as jenis_kelamin,
        jenis_kelamin as jenis_kelamin_raw,
        upper(trim(tempat_lahir)) as tempat_lahir,
        {{ normalise_region('kode_desa') }} as kode_wilayah,
        {{ region_name_key('nama_desa') }} as kunci_desa,
        {{ region_name_key('nama_kecamatan') }} as kunci_kecamatan,
        {{ region_name_key('nama_kabupaten') }} as kunci_kabupaten,
        {{ normalise_relationship('hubungan_kk') }} as hubungan_kk,
        nullif(trim(id_keluarga_sumber), '') as id_keluarga_sumber,
        nullif(trim(id_rumah_tangga), '') as id_rumah_tangga,
        nullif(trim(regexp_replace(alamat, '[[:space:][:cntrl:]]+', ' ', 'g')), '') as alamat,
        {{ address_key('alamat') }} as alamat_kunci,
        attributes,
        {{ month_end('extract_month') }} as month_end
    from raw
),

-- Lists that name regions instead of coding them (Dinsos Kaltim): look the village up by its
-- kabupaten, kecamatan and village names; an ambiguous name resolves to nothing.
by_name as (
    select n.record_key, n.extract_month, min(w.kode_desa) as kode_desa
    from normalised n
    join {{ ref('ref_wilayah') }} w
      on w.kunci_desa = n.kunci_desa and w.kunci_kecamatan = n.kunci_kecamatan
     and w.kunci_kabupaten = n.kunci_kabupaten
    where n.kode_wilayah is null and n.kunci_desa is not null
    group by n.record_key, n.extract_month  -- a record recurs every month: one lookup per month
    having count(*) = 1
),

checked as (
    select
        n.* exclude (kode_wilayah, kunci_desa, kunci_kecamatan, kunci_kabupaten, month_end),
        {{ name_key('n.nama_normal') }} as nama_kunci,
        {{ birth_year('n.tanggal_lahir_raw', 'n.tanggal_lahir') }} as tahun_lahir,
        {{ nik_issue('n.nik', 'province.kode_prov is not null', 'n.month_end') }} as nik_issue,
        nik_prefix.status is null and length(n.nik) = 16 as nik_kecamatan_unknown,
        coalesce(nik_prefix.status = 'predates_split', false) as nik_prefix_predates_split,
        {{ no_kk_issue('n.no_kk', 'kk_prefix.status') }} as no_kk_issue,
        {{ date_issue('n.tanggal_lahir_raw', 'n.tanggal_lahir', 'n.month_end') }} as tanggal_lahir_issue,
        case when n.jenis_kelamin_raw is null then 'missing'
             when n.jenis_kelamin is null then 'unknown_code' end as jenis_kelamin_issue,
        coalesce(case when n.nama_normal is null then 'missing' end, n.nama_script_issue) as nama_issue,
        -- Region: a 10-digit village code, a 4-digit kabupaten code, or names resolved above.
        case when length(n.kode_wilayah) = 10 and desa.kode_desa is not null then n.kode_wilayah
             else by_name.kode_desa end as kode_desa,
        case when length(n.kode_wilayah) in (4, 10) then substr(n.kode_wilayah, 1, 4)
             else substr(by_name.kode_desa, 1, 4) end as kode_kab,
        case
            when n.kode_wilayah is null and by_name.kode_desa is not null then 'resolved_from_names'
            when n.kode_wilayah is null and n.kunci_desa is not null then 'names_not_found'
            when n.kode_wilayah is null then 'missing'
            when length(n.kode_wilayah) = 4 and kab.kode_kab is null then 'unknown_code'
            when length(n.kode_wilayah) = 4 then 'kabupaten_only'
            when length(n.kode_wilayah) <> 10 then 'wrong_length'
            when desa.kode_desa is null then 'unknown_code'
        end as wilayah_issue
    from normalised n
    left join {{ ref('ref_nik_prefix') }} nik_prefix on nik_prefix.kode_kec = substr(n.nik, 1, 6)
    left join (select distinct kode_prov from {{ ref('ref_wilayah') }}) province on province.kode_prov = substr(n.nik, 1, 2)
    left join {{ ref('ref_nik_prefix') }} kk_prefix on kk_prefix.kode_kec = substr(n.no_kk, 1, 6)
    left join {{ ref('ref_wilayah') }} desa on desa.kode_desa = n.kode_wilayah
    left join (select distinct kode_kab from {{ ref('ref_wilayah') }}) kab on kab.kode_kab = n.kode_wilayah
    left join by_name on by_name.record_key = n.record_key and by_name.extract_month = n.extract_month
),

-- A date the source repeats implausibly often this month is its clerks' default for "unknown"
-- (dbt var frequent_birth_date), unless another issue already explains it.
dated as (
    select
        * replace (
            coalesce(
                tanggal_lahir_issue,
                case when tanggal_lahir is not null
                      and count(*) over (partition by extract_month, tanggal_lahir)
                          >= greatest({{ var('frequent_birth_date')['min_records'] }},
                                      {{ var('frequent_birth_date')['times_expected'] }}
                                      * count(tanggal_lahir) over (partition by extract_month) / 36525)
                     then 'frequent_date' end
            ) as tanggal_lahir_issue
        )
    from checked
),

staged as (
    select
        *,
        nik_issue is null as nik_valid,
        case when nik_issue is null and tanggal_lahir is not null
             then {{ nik_birth_date_agrees('nik', 'tanggal_lahir') }} end as nik_birth_date_agrees,
        case when nik_issue is null and jenis_kelamin is not null
             then {{ nik_sex_agrees('nik', 'jenis_kelamin') }} end as nik_sex_agrees,
        coalesce(nik_issue is null and tanggal_lahir is not null and jenis_kelamin is not null
                 and {{ nik_birth_date_agrees('nik', 'tanggal_lahir') }} and {{ nik_sex_agrees('nik', 'jenis_kelamin') }},
                 false) as nik_matches_birth,
        substr(coalesce(kode_desa, kode_kab), 1, 2) as kode_prov,
        -- What linkage compares: a birth date only when it is exact (no issue: not 01-01, a year alone,
        -- in the future or before 1900), its year unless it is a placeholder year ("01-01-1970" typed
        -- for unknown), and the name's words in alphabetical order (a name written family name first).
        case when tanggal_lahir_issue is null then tanggal_lahir end as tanggal_lahir_pasti,
        case
            when tanggal_lahir_issue in ('in_the_future', 'implausible_year', 'frequent_date') then null
            when tanggal_lahir_issue = 'placeholder_01_01'
                and tahun_lahir in ({{ var('placeholder_birth_years') | join(', ') }}) then null
            else tahun_lahir
        end as tahun_lahir_pasti,
        array_to_string(list_sort(string_split(nama_normal, ' ')), ' ') as nama_urut
    from dated
)

select
    {%- for column in staged_columns() %}
        {{ column }}{% if not loop.last %},{% endif %}
    {%- endfor %}
from staged
{%- endmacro %}
