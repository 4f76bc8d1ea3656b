-- Code list: Education (dtsen_individu.pendidikan): the words of seeds/kosakata.csv, and 'lainnya' for
-- any other text (seeds/kode_label.csv), labelled in Indonesian.
select
    nilai as kode,
    label,
    keterangan
from {{ ref('kosakata') }}
where kolom = 'pendidikan'
union all
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'pendidikan'
