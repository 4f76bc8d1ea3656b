-- Code list: whether a person is alive (dtsen_individu.status_hidup), labelled in Indonesian
-- (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'status_hidup'
