-- Code list: where a proposal or objection stands (dtsen_usulan.status), labelled in Indonesian
-- (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'status_usulan'
