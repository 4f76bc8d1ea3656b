-- Programme targeting per family: for every programme in seeds/programmes.csv, each family that is
-- eligible (desil at or below the cut-off) or receiving (a member appears in the programme's
-- receipt source this month), with its status:
--   tepat_sasaran   eligible and receiving
--   exclusion_error eligible, not receiving
--   inclusion_error receiving, not eligible (or not ranked)
with receiving as (
    select
        p.programme,
        m.dtsen_kk_id
    from {{ ref('programmes') }} as p
    inner join {{ source('linkage', 'person_clusters') }} as c
        on p.receipt_source = c.source and c.extract_month = '{{ extract_month() }}'
    inner join {{ source('linkage', 'family_members') }} as m
        on c.dtsen_id = m.dtsen_id and m.extract_month = '{{ extract_month() }}'
    group by all
),

eligible as (
    select
        p.programme,
        k.dtsen_kk_id
    from {{ ref('programmes') }} as p
    inner join {{ ref('dtsen_keluarga') }} as k on p.max_desil >= k.desil
)

select
    coalesce(e.programme, r.programme) as programme,
    '{{ extract_month() }}' as extract_month,
    coalesce(e.dtsen_kk_id, r.dtsen_kk_id) as dtsen_kk_id,
    k.kode_kab,
    k.nama_kabupaten,
    k.kode_prov,
    k.desil,
    e.dtsen_kk_id is not null as layak,
    r.dtsen_kk_id is not null as menerima,
    case
        when e.dtsen_kk_id is not null and r.dtsen_kk_id is not null then 'tepat_sasaran'
        when e.dtsen_kk_id is not null then 'exclusion_error'
        else 'inclusion_error'
    end as status
from eligible as e
full outer join receiving as r on e.programme = r.programme and e.dtsen_kk_id = r.dtsen_kk_id
left join {{ ref('dtsen_keluarga') }} as k on k.dtsen_kk_id = coalesce(e.dtsen_kk_id, r.dtsen_kk_id)
