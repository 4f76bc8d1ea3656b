-- Code list: sex (dtsen_individu.jenis_kelamin), labelled in Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'jenis_kelamin'
