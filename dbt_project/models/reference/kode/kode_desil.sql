-- Code list: the desil (1 poorest .. 10 richest), labelled in Indonesian (seeds/kode_label.csv). The
-- code is an integer, as the marts' desil columns are.
select
    cast(kode as integer) as kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'desil'
