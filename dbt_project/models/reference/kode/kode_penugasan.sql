-- Code list: why a family went to its field worker (dtsen_daftar_verifikasi.penugasan), labelled in
-- Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'penugasan'
