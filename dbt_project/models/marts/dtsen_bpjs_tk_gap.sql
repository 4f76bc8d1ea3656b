-- BPJS Ketenagakerjaan coverage gap per kabupaten/kota: informal workers in families of desil 1-4
-- (the vulnerable workers the 30M target is about) and how many of them are not participants.
{% set max_desil = 4 %}
select
    i.kode_kab,
    any_value(i.nama_kabupaten) as nama_kabupaten,
    '{{ extract_month() }}' as extract_month,
    count(*) as pekerja_rentan,
    count(*) filter (where i.peserta_bpjs_tk) as peserta_bpjs_tk,
    count(*) filter (where not i.peserta_bpjs_tk) as belum_terlindungi,
    round(count(*) filter (where not i.peserta_bpjs_tk) / count(*), 4) as porsi_belum_terlindungi
from {{ ref('dtsen_individu') }} as i
inner join {{ ref('dtsen_keluarga') }} as k using (dtsen_kk_id)
where i.pekerjaan = 'informal' and k.desil <= {{ max_desil }} and i.status_hidup = 'hidup'
group by i.kode_kab
