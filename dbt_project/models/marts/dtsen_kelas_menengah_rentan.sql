-- Vulnerable middle class: persons with a PHK (layoff) report this month whose family's desil is
-- lower than last month's.
select
    i.dtsen_id,
    '{{ extract_month() }}' as extract_month,
    i.dtsen_kk_id,
    i.kode_kab,
    i.nama_kabupaten,
    prev.desil as desil_bulan_lalu,
    k.desil,
    prev.desil - k.desil as turun_desil
from {{ ref('dtsen_individu') }} as i
inner join {{ ref('dtsen_keluarga') }} as k using (dtsen_kk_id)
inner join {{ ref('dtsen_desil_riwayat') }} as prev
    on
        k.dtsen_kk_id = prev.dtsen_kk_id
        and prev.extract_month = {{ previous_month() }}
where i.terkena_phk and k.desil < prev.desil
