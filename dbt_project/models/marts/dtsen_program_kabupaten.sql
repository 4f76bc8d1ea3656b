-- Programme targeting per kabupaten/kota: eligible, receiving, and both kinds of error.
select
    programme,
    extract_month,
    kode_kab,
    any_value(nama_kabupaten) as nama_kabupaten,
    count(*) filter (where layak) as keluarga_layak,
    count(*) filter (where menerima) as keluarga_menerima,
    count(*) filter (where status = 'tepat_sasaran') as tepat_sasaran,
    count(*) filter (where status = 'exclusion_error') as exclusion_error,
    count(*) filter (where status = 'inclusion_error') as inclusion_error
from {{ ref('dtsen_program_sasaran') }}
group by programme, extract_month, kode_kab
