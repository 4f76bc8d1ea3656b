{{ config(schema="intermediate", materialized="table") }}
-- Every field visit up to the month (verifikasi_lapangan is a delta: a visit arrives once), with
-- the person its record linked to in its own month and that person's family this month. A visit is
-- verified data: what it found (HASIL), its verdict on the proposal or objection it names
-- (ID_RUJUKAN, USULAN_SESUAI) and, when the family was found, its PMT answers.
with visits as (
    select
        v.record_key,
        v.source_record_id as id_kunjungan,
        v.extract_month as bulan_kunjungan,
        try_cast(json_extract_string(v.attributes, '$.TGL_KUNJUNGAN') as date) as tanggal_kunjungan,
        json_extract_string(v.attributes, '$.ID_PETUGAS') as id_petugas,
        upper(json_extract_string(v.attributes, '$.PERAN')) as peran,
        coalesce(v.kode_kab, nullif(trim(json_extract_string(v.attributes, '$.KODE_KAB')), '')) as kode_kab,
        nullif(trim(json_extract_string(v.attributes, '$.ID_RUJUKAN')), '') as id_rujukan,
        upper(json_extract_string(v.attributes, '$.HASIL')) as hasil,
        nullif(upper(trim(json_extract_string(v.attributes, '$.USULAN_SESUAI'))), '') as usulan_sesuai,
        v.attributes
    from {{ ref('stg_verifikasi_lapangan__individu') }} as v
    where v.extract_month <= '{{ extract_month() }}'
)

select
    vs.*,
    c.dtsen_id,
    m.dtsen_kk_id
from visits as vs
left join {{ source('linkage', 'person_clusters') }} as c
    on vs.record_key = c.record_key and vs.bulan_kunjungan = c.extract_month
left join {{ source('linkage', 'family_members') }} as m
    on c.dtsen_id = m.dtsen_id and m.extract_month = '{{ extract_month() }}'
