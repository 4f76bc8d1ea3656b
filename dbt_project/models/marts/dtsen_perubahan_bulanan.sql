-- Month over month per kabupaten/kota: persons who entered and left the registry and why, persons
-- who moved (counted out of the kabupaten they left and into the one they joined), desil
-- movements of families, and PKH graduations (families in PKH's desil range last month and above
-- it now).
with now_p as (
    select * from {{ ref('dtsen_individu_riwayat') }}
    where extract_month = '{{ extract_month() }}'
),

prev_p as (
    select * from {{ ref('dtsen_individu_riwayat') }}
    where extract_month = {{ previous_month() }}
),

persons as (
    select
        n.dtsen_id is not null as ada_sekarang,
        p.dtsen_id is not null as ada_lalu,
        n.kode_kab as kab_sekarang,
        p.kode_kab as kab_lalu,
        n.status_hidup as status_sekarang,
        p.status_hidup as status_lalu
    from now_p as n
    full outer join prev_p as p on n.dtsen_id = p.dtsen_id
),

-- One row per event, placed in the kabupaten it concerns.
events as (
    select
        kab_sekarang as kode_kab,
        'masuk' as peristiwa
    from persons
    where not ada_lalu
    union all
    select
        kab_lalu,
        'keluar_tidak_tercatat' as peristiwa
    from persons
    where not ada_sekarang
    union all
    select
        kab_lalu,
        'keluar_meninggal' as peristiwa
    from persons
    where ada_sekarang and ada_lalu and status_sekarang in ('diduga_meninggal', 'meninggal') and status_lalu = 'hidup'
    union all
    select
        kab_lalu,
        'pindah_keluar' as peristiwa
    from persons
    where ada_sekarang and ada_lalu and kab_sekarang <> kab_lalu
    union all
    select
        kab_sekarang,
        'pindah_masuk' as peristiwa
    from persons
    where ada_sekarang and ada_lalu and kab_sekarang <> kab_lalu
),

person_counts as (
    select
        kode_kab,
        count(*) filter (where peristiwa = 'masuk') as masuk,
        count(*) filter (where peristiwa = 'keluar_meninggal') as keluar_meninggal,
        count(*) filter (where peristiwa = 'keluar_tidak_tercatat') as keluar_tidak_tercatat,
        count(*) filter (where peristiwa = 'pindah_keluar') as pindah_keluar,
        count(*) filter (where peristiwa = 'pindah_masuk') as pindah_masuk
    from events
    group by kode_kab
),

now_k as (
    select * from {{ ref('dtsen_desil_riwayat') }}
    where extract_month = '{{ extract_month() }}'
),

prev_k as (
    select * from {{ ref('dtsen_desil_riwayat') }}
    where extract_month = {{ previous_month() }}
),

pkh as (
    select max(max_desil) as max_desil from {{ ref('programmes') }}
    where programme = 'PKH'
),

family_counts as (
    select
        n.kode_kab,
        count(*) filter (where n.desil < p.desil) as keluarga_turun_desil,
        count(*) filter (where n.desil > p.desil) as keluarga_naik_desil,
        count(*) filter (where p.desil <= pkh.max_desil and n.desil > pkh.max_desil) as graduasi_pkh
    from now_k as n
    inner join prev_k as p on n.dtsen_kk_id = p.dtsen_kk_id
    cross join pkh
    group by n.kode_kab
),

kabupaten as (
    {{ kabupaten_names() }}
)

select
    coalesce(p.kode_kab, f.kode_kab) as kode_kab,
    w.nama_kabupaten,
    '{{ extract_month() }}' as extract_month,
    coalesce(p.masuk, 0) as masuk,
    coalesce(p.keluar_meninggal, 0) as keluar_meninggal,
    coalesce(p.keluar_tidak_tercatat, 0) as keluar_tidak_tercatat,
    coalesce(p.pindah_keluar, 0) as pindah_keluar,
    coalesce(p.pindah_masuk, 0) as pindah_masuk,
    coalesce(f.keluarga_turun_desil, 0) as keluarga_turun_desil,
    coalesce(f.keluarga_naik_desil, 0) as keluarga_naik_desil,
    coalesce(f.graduasi_pkh, 0) as graduasi_pkh
from person_counts as p
full outer join family_counts as f on p.kode_kab = f.kode_kab
left join kabupaten as w on w.kode_kab = coalesce(p.kode_kab, f.kode_kab)
