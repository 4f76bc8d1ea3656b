-- One row per family (KK, dtsen_kk_id) for the month: members, head, composition, the PMT
-- variables, the welfare score and the desil. Desil ranks families by PMT score so that each
-- desil holds a tenth of the persons in scored families, nationally and within each province.
with members as (
    select
        dtsen_kk_id,
        count(*) as anggota,
        count(*) filter (where umur < 18) as anggota_anak,
        count(*) filter (where umur >= 60) as anggota_lansia,
        count(*) filter (where jenis_kelamin = 'P') as anggota_perempuan,
        count(*) filter (where pekerjaan = 'informal') as pekerja_informal,
        count(*) filter (where pekerjaan = 'formal') as pekerja_formal,
        bool_or(terkena_phk) as ada_phk
    from {{ ref('dtsen_individu') }}
    where status_hidup not in ('diduga_meninggal', 'meninggal')
    group by dtsen_kk_id
),

families as (
    select
        f.dtsen_kk_id,
        f.dtsen_rt_id,
        f.no_kk,
        f.kepala_dtsen_id,
        f.kode_desa
    from {{ source('linkage', 'families') }} as f
    where f.extract_month = '{{ extract_month() }}'
),

-- The family's street address, for field visits (identified release only): the head's, else the
-- first member's (by dtsen_id) that has one.
addresses as (
    select
        f.dtsen_kk_id,
        arg_min(i.alamat, case when i.dtsen_id = f.kepala_dtsen_id then '0' else '1' end || i.dtsen_id) as alamat
    from families as f
    inner join {{ ref('dtsen_individu') }} as i on f.dtsen_kk_id = i.dtsen_kk_id
    where i.alamat is not null
    group by f.dtsen_kk_id
),

scored as (
    select
        fam.*,
        coalesce(m.anggota, 0) as anggota,
        m.* exclude (dtsen_kk_id, anggota),
        p.* exclude (dtsen_kk_id, anggota)
    from families as fam
    left join members as m using (dtsen_kk_id)
    left join {{ ref('int_keluarga_pmt') }} as p using (dtsen_kk_id)
),

ranked as (
    select
        *,
        sum(anggota) over (
            partition by skor_pmt is null order by skor_pmt, dtsen_kk_id
            rows between unbounded preceding and current row
        ) - anggota / 2.0 as cum_nasional,
        sum(anggota) over (partition by skor_pmt is null) as total_nasional,
        sum(anggota) over (
            partition by skor_pmt is null, substr(kode_desa, 1, 2) order by skor_pmt, dtsen_kk_id
            rows between unbounded preceding and current row
        ) - anggota / 2.0 as cum_provinsi,
        sum(anggota) over (partition by skor_pmt is null, substr(kode_desa, 1, 2)) as total_provinsi
    from scored
)

select
    s.dtsen_kk_id,
    '{{ extract_month() }}' as extract_month,
    s.dtsen_rt_id,
    s.no_kk,
    s.kepala_dtsen_id,
    s.kode_desa,
    substr(s.kode_desa, 1, 4) as kode_kab,
    substr(s.kode_desa, 1, 2) as kode_prov,
    w.nama_desa,
    w.nama_kabupaten,
    w.nama_provinsi,
    a.alamat,
    s.anggota,
    s.anggota_anak,
    s.anggota_lansia,
    s.anggota_perempuan,
    s.pekerja_informal,
    s.pekerja_formal,
    coalesce(s.ada_phk, false) as ada_phk,
    s.pmt_bulan_sumber,
    s.pmt_sumber,
    s.status_rumah,
    s.luas_lantai_m2,
    s.jenis_lantai,
    s.jenis_dinding,
    s.jenis_atap,
    s.sumber_air_minum,
    s.fasilitas_bab,
    s.sumber_penerangan,
    s.bahan_bakar_masak,
    s.punya_kulkas,
    s.punya_motor,
    s.punya_mobil,
    s.punya_tv,
    s.punya_hp,
    s.punya_emas,
    s.punya_lahan,
    s.ternak_sapi,
    s.ternak_kambing,
    s.ternak_unggas,
    s.skor_pmt,
    case
        when s.skor_pmt is not null
            then least(10, greatest(1, floor(s.cum_nasional / s.total_nasional * 10) + 1))::integer
    end as desil,
    case
        when s.skor_pmt is not null
            then least(10, greatest(1, floor(s.cum_provinsi / s.total_provinsi * 10) + 1))::integer
    end as desil_provinsi
from ranked as s
left join {{ ref('ref_wilayah') }} as w on s.kode_desa = w.kode_desa
left join addresses as a on s.dtsen_kk_id = a.dtsen_kk_id
