-- One row per linked person (dtsen_id) for the extract month: the golden identity.
-- Survivorship (thin path): Dukcapil wins identity fields, then a record with a valid NIK.
with clusters as (
    select record_key, dtsen_id
    from {{ source('linkage', 'person_clusters') }}
    where extract_month = '{{ var("month") }}'
),

records as (
    select identitas.*, clusters.dtsen_id
    from {{ ref('int_identitas') }} as identitas
    inner join clusters using (record_key)
    where identitas.extract_month = '{{ var("month") }}'
),

ranked as (
    select
        *,
        row_number() over (
            partition by dtsen_id
            order by source = 'dukcapil' desc, nik_valid desc, record_key
        ) as survivorship_rank
    from records
),

per_person as (
    select
        dtsen_id,
        count(*) as n_records,
        list_sort(list_distinct(list(source))) as sources,
        bool_or(source = 'dukcapil') as in_dukcapil,
        bool_or(source = 'dtks') as in_dtks,
        count(distinct tanggal_lahir) > 1 as conflict_tanggal_lahir,
        count(distinct jenis_kelamin) > 1 as conflict_jenis_kelamin,
        count(distinct no_kk) > 1 as conflict_no_kk
    from records
    group by dtsen_id
)

select
    golden.dtsen_id,
    '{{ var("month") }}' as extract_month,
    golden.nik,
    golden.nik_valid,
    golden.no_kk,
    golden.nama_normal as nama,
    golden.tanggal_lahir,
    golden.jenis_kelamin,
    golden.kode_desa,
    golden.kode_kab,
    golden.kode_prov,
    golden.source as identity_source,
    per_person.n_records,
    per_person.sources,
    per_person.in_dukcapil,
    per_person.in_dtks,
    per_person.conflict_tanggal_lahir,
    per_person.conflict_jenis_kelamin,
    per_person.conflict_no_kk
from ranked as golden
inner join per_person using (dtsen_id)
where golden.survivorship_rank = 1
