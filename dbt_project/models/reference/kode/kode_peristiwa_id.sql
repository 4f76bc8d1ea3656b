-- Code list: what happened to a dtsen_id (dtsen_id_history.event), labelled in Indonesian
-- (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'peristiwa_id'
