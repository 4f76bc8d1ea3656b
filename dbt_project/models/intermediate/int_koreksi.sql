{{ config(schema="intermediate", materialized="table") }}
-- Every proposal (usulan_desa) and objection (sanggahan) received up to the month, with the person
-- it linked to, its verification and its status. Nothing here changes a golden field; dtsen_individu
-- and int_keluarga_pmt take only what a field visit or Dukcapil confirmed (status 'accepted').
--   received       this month, not linked to a person (yet)
--   linked         this month, linked to a person
--   awaiting_visit received in an earlier month, not decided
--   accepted       a visit found it as claimed (USULAN_SESUAI = YA); a reported death also when the
--                  visit found the person dead, or Dukcapil no longer lists them
--   rejected       a visit found otherwise (alasan_ditolak 'not_as_claimed') or nobody at the
--                  address ('subject_not_found')
with items as (
    select
        u.record_key,
        u.source,
        u.source_record_id as id_usulan,
        u.extract_month as bulan_terima,
        coalesce(
            try_cast(json_extract_string(u.attributes, '$."Tanggal Usulan"') as date),
            {{ month_end('u.extract_month') }}
        ) as tanggal_terima,
        u.kode_kab,
        upper(json_extract_string(u.attributes, '$."Jenis Usulan"')) as jenis,
        upper(json_extract_string(u.attributes, '$."Alasan"')) as alasan,
        nullif(upper(trim(json_extract_string(u.attributes, '$."Kolom Diubah"'))), '') as kolom_diubah,
        nullif(trim(json_extract_string(u.attributes, '$."Data Baru"')), '') as data_baru
    from {{ ref('stg_usulan_desa__individu') }} as u
    where u.extract_month <= '{{ extract_month() }}'
    union all
    select
        s.record_key,
        s.source,
        s.source_record_id as id_usulan,
        s.extract_month as bulan_terima,
        coalesce(
            try_cast(json_extract_string(s.attributes, '$.TANGGAL') as date), {{ month_end('s.extract_month') }}
        ) as tanggal_terima,
        s.kode_kab,
        'SANGGAHAN' as jenis,
        upper(json_extract_string(s.attributes, '$.JENIS_SANGGAHAN')) as alasan,
        null as kolom_diubah,
        null as data_baru
    from {{ ref('stg_sanggahan__individu') }} as s
    where s.extract_month <= '{{ extract_month() }}'
),

-- The latest visit that names each item.
visit as (
    select * from {{ ref('int_kunjungan') }}
    where id_rujukan is not null
    qualify row_number() over (partition by id_rujukan order by bulan_kunjungan desc, id_kunjungan desc) = 1
),

dukcapil_now as (
    select distinct dtsen_id from {{ source('linkage', 'person_clusters') }}
    where source = 'dukcapil' and extract_month = '{{ extract_month() }}'
),

linked as (
    select
        i.*,
        -- the item's own link, else the person its visit found
        coalesce(c.dtsen_id, v.dtsen_id) as dtsen_id,
        c.dtsen_id is not null as tertaut,
        v.id_kunjungan,
        v.bulan_kunjungan,
        v.tanggal_kunjungan,
        v.hasil,
        v.usulan_sesuai,
        v.id_petugas,
        v.kode_kab as kode_kab_kunjungan
    from items as i
    left join {{ source('linkage', 'person_clusters') }} as c
        on i.record_key = c.record_key and i.bulan_terima = c.extract_month
    left join visit as v on i.id_usulan = v.id_rujukan
),

decided as (
    select
        l.*,
        case
            when l.usulan_sesuai = 'YA' or (l.alasan = 'MENINGGAL' and l.hasil = 'MENINGGAL') then 'accepted'
            when l.usulan_sesuai = 'TIDAK' or l.hasil = 'TIDAK DITEMUKAN' then 'rejected'
            when l.alasan = 'MENINGGAL' and l.tertaut and d.dtsen_id is null then 'accepted'
            when l.bulan_terima < '{{ extract_month() }}' then 'awaiting_visit'
            when l.tertaut then 'linked'
            else 'received'
        end as status,
        case
            when l.usulan_sesuai = 'YA' or (l.alasan = 'MENINGGAL' and l.hasil = 'MENINGGAL')
                then 'verifikasi_lapangan:' || l.id_kunjungan
            when l.usulan_sesuai = 'TIDAK' or l.hasil = 'TIDAK DITEMUKAN'
                then 'verifikasi_lapangan:' || l.id_kunjungan
            when l.alasan = 'MENINGGAL' and l.tertaut and d.dtsen_id is null then 'dukcapil'
        end as dasar_keputusan
    from linked as l
    left join dukcapil_now as d on l.dtsen_id = d.dtsen_id
)

select
    d.source,
    d.id_usulan,
    d.bulan_terima,
    d.tanggal_terima,
    d.jenis,
    d.alasan,
    d.kolom_diubah,
    d.data_baru,
    coalesce(d.kode_kab, d.kode_kab_kunjungan) as kode_kab,
    d.dtsen_id,
    m.dtsen_kk_id,
    d.tertaut,
    d.id_kunjungan,
    d.hasil,
    d.id_petugas,
    d.status,
    case
        when d.status = 'rejected' and d.hasil = 'TIDAK DITEMUKAN' and d.usulan_sesuai is null then 'subject_not_found'
        when d.status = 'rejected' then 'not_as_claimed'
    end as alasan_ditolak,
    d.dasar_keputusan,
    case
        when
            d.status in ('accepted', 'rejected')
            then coalesce(d.tanggal_kunjungan, {{ month_end("'" ~ extract_month() ~ "'") }})
    end
        as tanggal_keputusan,
    date_diff(
        'day', d.tanggal_terima,
        case
            when
                d.status in ('accepted', 'rejected')
                then coalesce(d.tanggal_kunjungan, {{ month_end("'" ~ extract_month() ~ "'") }})
            else {{ month_end("'" ~ extract_month() ~ "'") }}
        end
    ) as umur_hari
from decided as d
left join {{ source('linkage', 'family_members') }} as m
    on d.dtsen_id = m.dtsen_id and m.extract_month = '{{ extract_month() }}'
