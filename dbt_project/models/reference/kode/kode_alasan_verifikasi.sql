-- Code list: the reasons a family is put on the field work list (seeds/verifikasi_prioritas.csv),
-- labelled in Indonesian, with their weights.
select
    alasan as kode,
    label,
    keterangan,
    bobot
from {{ ref('verifikasi_prioritas') }}
