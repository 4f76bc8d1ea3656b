-- Code list: a PKH family's graduation status (dtsen_graduasi_pendamping.status_keluarga), labelled in
-- Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'status_graduasi'
