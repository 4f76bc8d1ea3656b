-- One row per household (dtsen_rt_id): the KKs sharing a dwelling, their persons, and the lowest
-- desil among them (a household is as poor as its poorest family).
select
    dtsen_rt_id,
    '{{ extract_month() }}' as extract_month,
    any_value(kode_desa) as kode_desa,
    any_value(kode_kab) as kode_kab,
    any_value(kode_prov) as kode_prov,
    any_value(nama_kabupaten) as nama_kabupaten,
    count(*) as keluarga,
    sum(anggota) as anggota,
    min(desil) as desil_terendah,
    list_sort(list(dtsen_kk_id)) as daftar_dtsen_kk_id
from {{ ref('dtsen_keluarga') }}
group by dtsen_rt_id
