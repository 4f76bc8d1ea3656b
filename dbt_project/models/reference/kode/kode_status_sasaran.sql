-- Code list: a family's targeting status for a programme (dtsen_program_sasaran.status), labelled in
-- Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'status_sasaran'
