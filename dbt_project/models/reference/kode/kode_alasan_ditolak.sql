-- Code list: why a proposal or objection was rejected (dtsen_usulan.alasan_ditolak), labelled in
-- Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'alasan_ditolak'
