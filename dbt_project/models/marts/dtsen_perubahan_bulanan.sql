-- Month over month per kabupaten/kota: persons who entered and left the registry, why they left,
-- desil movements of families, and PKH graduations (families that were in PKH's desil range last
-- month and are above it now).
with now_p as (select * from {{ ref('dtsen_individu_riwayat') }} where extract_month = '{{ var("month") }}'),
prev_p as (select * from {{ ref('dtsen_individu_riwayat') }} where extract_month = {{ previous_month() }}),

persons as (
    select
        coalesce(n.kode_kab, p.kode_kab) as kode_kab,
        count(*) filter (where p.dtsen_id is null) as masuk,
        count(*) filter (where n.dtsen_id is null) as keluar_tidak_tercatat,
        count(*) filter (where n.status_hidup = 'diduga_meninggal' and p.status_hidup = 'hidup') as keluar_meninggal,
        count(*) filter (where n.dtsen_id is not null and p.dtsen_id is not null and n.kode_kab <> p.kode_kab) as pindah_keluar
    from now_p n
    full outer join prev_p p using (dtsen_id)
    group by 1
),

now_k as (select * from {{ ref('dtsen_desil_riwayat') }} where extract_month = '{{ var("month") }}'),
prev_k as (select * from {{ ref('dtsen_desil_riwayat') }} where extract_month = {{ previous_month() }}),
pkh as (select max_desil from {{ ref('programmes') }} where programme = 'PKH'),

families as (
    select
        n.kode_kab,
        count(*) filter (where n.desil < p.desil) as keluarga_turun_desil,
        count(*) filter (where n.desil > p.desil) as keluarga_naik_desil,
        count(*) filter (where p.desil <= (select max_desil from pkh) and n.desil > (select max_desil from pkh))
            as graduasi_pkh
    from now_k n
    inner join prev_k p using (dtsen_kk_id)
    group by 1
)

select
    coalesce(p.kode_kab, f.kode_kab) as kode_kab,
    k.nama_kabupaten,
    '{{ var("month") }}' as extract_month,
    coalesce(p.masuk, 0) as masuk,
    coalesce(p.keluar_meninggal, 0) as keluar_meninggal,
    coalesce(p.keluar_tidak_tercatat, 0) as keluar_tidak_tercatat,
    coalesce(p.pindah_keluar, 0) as pindah_keluar,
    coalesce(f.keluarga_turun_desil, 0) as keluarga_turun_desil,
    coalesce(f.keluarga_naik_desil, 0) as keluarga_naik_desil,
    coalesce(f.graduasi_pkh, 0) as graduasi_pkh
from persons p
full outer join families f using (kode_kab)
left join (select distinct kode_kab, nama_kabupaten from {{ ref('ref_wilayah') }}) k
    on k.kode_kab = coalesce(p.kode_kab, f.kode_kab)
