-- Update progress per province: the share of persons with at least one source record that is new
-- or changed this month (identity, family card or address), against the target in
-- seeds/update_targets.csv ('*' is the default for provinces not listed).
with fingerprints as (
    select
        record_key,
        extract_month,
        md5(concat_ws(
            '|', nik, no_kk, nama_normal, cast(tanggal_lahir as varchar), jenis_kelamin,
            kode_desa, alamat_kunci
        )) as fp
    from {{ ref('int_identitas') }}
    -- an update is a register's; a proposal or objection is not one until verified
    where extract_month in ('{{ extract_month() }}', {{ previous_month() }}) and {{ is_register('source') }}
),

updated as (
    select
        c.dtsen_id,
        bool_or(p.record_key is null or p.fp <> n.fp) as diperbarui
    from fingerprints as n
    inner join {{ source('linkage', 'person_clusters') }} as c
        on n.record_key = c.record_key and n.extract_month = c.extract_month
    left join fingerprints as p on n.record_key = p.record_key and p.extract_month = {{ previous_month() }}
    where n.extract_month = '{{ extract_month() }}'
    group by c.dtsen_id
),

-- The target of provinces not listed in seeds/update_targets.csv.
default_target as (
    select target_share_per_month from {{ ref('update_targets') }}
    where kode_prov = '*'
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
from {{ ref('dtsen_individu') }} as i
left join updated as u using (dtsen_id)
left join {{ ref('update_targets') }} as t on i.kode_prov = t.kode_prov
cross join default_target as d
group by i.kode_prov
