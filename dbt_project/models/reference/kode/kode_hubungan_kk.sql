-- Code list: relationship to the family head (dtsen_individu.hubungan_kk; macros/normalise.sql
-- normalise_relationship), labelled in Indonesian (seeds/kode_label.csv).
select
    kode,
    label,
    keterangan
from {{ ref('kode_label') }}
where daftar = 'hubungan_kk'
