{{ config(schema="intermediate", materialized="table") }}
-- The latest Regsosek form of every family up to the month (Regsosek sends deltas: a family's
-- form stays valid until it is sent again), with the person each member record linked to in its
-- own month. The source of the PMT variables and of socio-economic fields.
with forms as (
    select
        record_key,
        extract_month,
        id_keluarga_sumber,
        attributes
    from {{ ref('stg_regsosek__individu') }}
    where extract_month <= '{{ extract_month() }}' and id_keluarga_sumber is not null
),

latest as (
    select
        id_keluarga_sumber,
        max(extract_month) as form_month
    from forms
    group by 1
)

select
    f.id_keluarga_sumber,
    f.extract_month as form_month,
    f.record_key,
    c.dtsen_id,
    f.attributes
from forms as f
inner join latest as l on f.id_keluarga_sumber = l.id_keluarga_sumber and f.extract_month = l.form_month
inner join {{ source('linkage', 'person_clusters') }} as c
    on f.record_key = c.record_key and f.extract_month = c.extract_month
-- A member who moved (a marriage) is on the new family's form and still on the old family's
-- older one: the newest form wins.
qualify row_number() over (partition by f.record_key order by f.extract_month desc, f.id_keluarga_sumber asc) = 1
