-- Update progress per province: the share of persons with at least one source record that is new
-- or changed this month (identity, family card or address), against the target in
-- seeds/update_targets.csv ('*' is the default for provinces not listed).
with fingerprints as (
    select record_key, extract_month,
           md5(concat_ws('|', nik, no_kk, nama_normal, cast(tanggal_lahir as varchar), jenis_kelamin,
                         kode_desa, alamat_kunci)) as fp
    from {{ ref('int_identitas') }}
    where extract_month in ('{{ extract_month() }}', {{ previous_month() }})
),

updated as (
    select c.dtsen_id, bool_or(p.record_key is null or p.fp <> n.fp) as diperbarui
    from fingerprints n
    inner join {{ source('linkage', 'person_clusters') }} c
        on c.record_key = n.record_key and c.extract_month = n.extract_month
    left join fingerprints p on p.record_key = n.record_key and p.extract_month = {{ previous_month() }}
    where n.extract_month = '{{ extract_month() }}'
    group by c.dtsen_id
)

select
    i.kode_prov,
    any_value(i.nama_provinsi) as nama_provinsi,
    '{{ extract_month() }}' as extract_month,
    count(*) as individu,
    count(*) filter (where u.diperbarui) as diperbarui,
    round(count(*) filter (where u.diperbarui) / count(*), 4) as porsi_diperbarui,
    coalesce(any_value(t.target_share_per_month), any_value(d.target_share_per_month)) as target,
    round(count(*) filter (where u.diperbarui) / count(*), 4)
        >= coalesce(any_value(t.target_share_per_month), any_value(d.target_share_per_month)) as target_tercapai
from {{ ref('dtsen_individu') }} i
left join updated u using (dtsen_id)
left join {{ ref('update_targets') }} t on t.kode_prov = i.kode_prov
cross join (select target_share_per_month from {{ ref('update_targets') }} where kode_prov = '*') d
group by i.kode_prov
