-- Every proposal (usulan_desa) and objection (sanggahan) received up to the month, with its status
-- and age (int_koreksi), measured against the service level: the days a kabupaten has to decide
-- one, the dbt var usulan_batas_layanan_hari (dbt_project.yml). Each row also carries its
-- kabupaten's counts, so a Dinsos reads where it stands from any of its rows.
with items as (
    select
        k.*,
        {{ var('usulan_batas_layanan_hari') }} as batas_layanan_hari,
        k.status not in ('accepted', 'rejected') as terbuka
    from {{ ref('int_koreksi') }} as k
),

flagged as (
    select
        *,
        umur_hari > batas_layanan_hari as lewat_batas
    from items
),

kabupaten as (
    {{ kabupaten_names() }}
)

select
    f.source,
    f.id_usulan,
    '{{ extract_month() }}' as extract_month,
    f.bulan_terima,
    f.tanggal_terima,
    f.jenis,
    f.alasan,
    f.kolom_diubah,
    f.kode_kab,
    w.nama_kabupaten,
    f.dtsen_id,
    f.dtsen_kk_id,
    f.tertaut,
    f.status,
    f.alasan_ditolak,
    f.dasar_keputusan,
    f.id_petugas,
    f.tanggal_keputusan,
    f.umur_hari,
    f.batas_layanan_hari,
    f.terbuka,
    f.lewat_batas,
    count(*) over (partition by f.kode_kab) as kab_usulan,
    count(case when f.terbuka then 1 end) over (partition by f.kode_kab) as kab_terbuka,
    count(case when f.terbuka and f.lewat_batas then 1 end) over (partition by f.kode_kab) as kab_terbuka_lewat_batas,
    count(case when not f.terbuka then 1 end) over (partition by f.kode_kab) as kab_selesai,
    count(case when not f.terbuka and not f.lewat_batas then 1 end) over (
        partition by f.kode_kab
    ) as kab_selesai_tepat_waktu
from flagged as f
left join kabupaten as w on f.kode_kab = w.kode_kab
