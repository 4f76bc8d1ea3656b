-- PKH graduation per facilitator this year (the extract month's year), against the target of
-- seeds/graduasi_target.csv (10 families a year for a PKH facilitator), with every family each
-- facilitator follows and whether it graduated, is close to graduating, or is followed.
--   a family's facilitator: the worker of the seed's role (PENDAMPING PKH) who visited it last this year
--   graduasi          its desil rose above the programme's cut-off (seeds/programmes.csv) in a
--                     month of this year, from at or below it the month before, and is still above
--   hampir_graduasi   not graduated, desil within the seed's hampir_desil of the cut-off (at or
--                     below it): the families the facilitator can graduate next, richest first
--   didampingi        the others it follows
with target as (
    select
        t.programme,
        t.peran,
        t.target_per_tahun,
        t.hampir_desil,
        p.max_desil
    from {{ ref('graduasi_target') }} as t
    inner join {{ ref('programmes') }} as p on t.programme = p.programme
),

followed as (
    select
        t.*,
        v.dtsen_kk_id,
        v.id_petugas,
        v.kode_kab as kode_kab_petugas,
        v.tanggal_kunjungan as kunjungan_terakhir
    from {{ ref('int_kunjungan') }} as v
    inner join target as t on v.peran = t.peran
    where
        v.dtsen_kk_id is not null
        and left(v.bulan_kunjungan, 4) = left('{{ extract_month() }}', 4)
        and v.bulan_kunjungan <= '{{ extract_month() }}'
    qualify row_number() over (
        partition by t.programme, v.dtsen_kk_id
        order by v.bulan_kunjungan desc, v.tanggal_kunjungan desc, v.id_kunjungan desc
    ) = 1
),

history as (
    select
        dtsen_kk_id,
        extract_month,
        desil,
        lag(desil) over (partition by dtsen_kk_id order by extract_month) as desil_lalu
    from {{ ref('dtsen_desil_riwayat') }}
    where extract_month <= '{{ extract_month() }}'
),

-- The latest month this year each family's desil rose above the programme's cut-off.
crossed as (
    select
        t.programme,
        h.dtsen_kk_id,
        max(h.extract_month) as bulan_graduasi
    from history as h
    cross join target as t
    where
        left(h.extract_month, 4) = left('{{ extract_month() }}', 4)
        and h.desil_lalu <= t.max_desil
        and h.desil > t.max_desil
    group by t.programme, h.dtsen_kk_id
),

families as (
    select
        f.*,
        k.kode_kab,
        k.desil,
        k.skor_pmt,
        c.bulan_graduasi
    from followed as f
    left join {{ ref('dtsen_keluarga') }} as k on f.dtsen_kk_id = k.dtsen_kk_id
    left join crossed as c on f.programme = c.programme and f.dtsen_kk_id = c.dtsen_kk_id
),

statused as (
    select
        *,
        case
            when bulan_graduasi is not null and desil > max_desil then 'graduasi'
            when desil > max_desil - hampir_desil and desil <= max_desil then 'hampir_graduasi'
            else 'didampingi'
        end as status_keluarga
    from families
),

counted as (
    select
        *,
        count(case when status_keluarga = 'graduasi' then 1 end) over (partition by programme, id_petugas)
            as graduasi_petugas,
        count(case when status_keluarga = 'hampir_graduasi' then 1 end) over (partition by programme, id_petugas)
            as hampir_petugas,
        count(*) over (partition by programme, id_petugas) as dampingan_petugas
    from statused
),

kabupaten as (
    {{ kabupaten_names() }}
)

select
    c.programme,
    left('{{ extract_month() }}', 4)::integer as tahun,
    '{{ extract_month() }}' as extract_month,
    c.kode_kab_petugas as kode_kab,
    w.nama_kabupaten,
    c.id_petugas,
    c.dtsen_kk_id,
    c.kode_kab as kode_kab_keluarga,
    c.desil,
    c.status_keluarga,
    case when c.status_keluarga = 'graduasi' then c.bulan_graduasi end as bulan_graduasi,
    case
        when c.status_keluarga = 'hampir_graduasi'
            then row_number() over (
                partition by c.programme, c.id_petugas, c.status_keluarga
                order by c.skor_pmt desc nulls last, c.dtsen_kk_id asc
            )
    end as peringkat_hampir,
    c.kunjungan_terakhir,
    c.dampingan_petugas,
    c.graduasi_petugas,
    c.hampir_petugas,
    c.target_per_tahun,
    greatest(c.target_per_tahun - c.graduasi_petugas, 0) as sisa_target,
    c.graduasi_petugas >= c.target_per_tahun as capai_target
from counted as c
left join kabupaten as w on c.kode_kab_petugas = w.kode_kab
