{{ config(schema="intermediate", materialized="table") }}
-- PMT variables and welfare score per family (dtsen_kk_id) for the month. The variables come from
-- the family's latest observation: its latest Regsosek form, or a field visit that found the family
-- (verifikasi_lapangan, verified data) when newer; in the same month the rank in
-- seeds/survivorship.csv (field group 'pmt') decides. pmt_sumber names the form's source or the
-- visit. The weights come from seeds/pmt_weights.csv (dtsen_pipeline/lab/pmt.py documents and calibrates
-- them). Families observed by neither have no score (and no desil).
with form_family as (
    select
        r.id_keluarga_sumber,
        any_value(r.form_month) as form_month,
        any_value(r.attributes) as attributes,
        mode(m.dtsen_kk_id) as dtsen_kk_id
    from {{ ref('int_regsosek_terakhir') }} as r
    inner join {{ source('linkage', 'family_members') }} as m
        on r.dtsen_id = m.dtsen_id and m.extract_month = '{{ extract_month() }}'
    group by r.id_keluarga_sumber
),

observations as (
    select
        f.dtsen_kk_id,
        f.form_month,
        f.attributes,
        'regsosek' as source,
        f.id_keluarga_sumber as observation_id
    from form_family as f
    union all
    select
        k.dtsen_kk_id,
        k.bulan_kunjungan as form_month,
        k.attributes,
        'verifikasi_lapangan' as source,
        k.id_kunjungan as observation_id
    from {{ ref('int_kunjungan') }} as k
    where k.hasil = 'DITEMUKAN' and k.dtsen_kk_id is not null
),

per_family as (
    select
        o.*,
        case when o.source = 'regsosek' then 'regsosek' else o.source || ':' || o.observation_id end as pmt_sumber
    from observations as o
    left join {{ ref('survivorship') }} as sv on sv.field_group = 'pmt' and o.source = sv.source
    qualify row_number() over (
        partition by o.dtsen_kk_id order by o.form_month desc, coalesce(sv.rank, 99) asc, o.observation_id asc
    ) = 1
),

families as (
    select
        dtsen_kk_id,
        members
    from {{ source('linkage', 'families') }}
    where extract_month = '{{ extract_month() }}'
),

variables as (
    select
        p.dtsen_kk_id,
        p.form_month as pmt_bulan_sumber,
        p.pmt_sumber,
        {% for v in ['status_rumah', 'jenis_lantai', 'jenis_dinding', 'jenis_atap', 'sumber_air_minum',
                     'fasilitas_bab', 'sumber_penerangan', 'bahan_bakar_masak'] -%}
            lower(json_extract_string(p.attributes, '$.{{ v }}')) as {{ v }},
        {% endfor -%}
        {% for v in ['punya_kulkas', 'punya_motor', 'punya_mobil', 'punya_tv', 'punya_hp', 'punya_emas',
                     'punya_lahan'] -%}
            -- not reported: no
            coalesce(lower(json_extract_string(p.attributes, '$.{{ v }}')) in ('true', '1'), false) as {{ v }},
        {% endfor -%}
        {% for v in ['ternak_sapi', 'ternak_kambing', 'ternak_unggas'] -%}
            coalesce(try_cast(json_extract_string(p.attributes, '$.{{ v }}') as integer), 0) as {{ v }},
        {% endfor -%}
        try_cast(json_extract_string(p.attributes, '$.luas_lantai_m2') as double) as luas_lantai_m2,
        f.members as anggota
    from per_family as p
    inner join families as f using (dtsen_kk_id)
),

-- Every variable as (variable, value) text, then matched to its weight: a category's weight when
-- the value equals it, a numeric weight (category '*') times the value.
long as (
    unpivot (
        select
            dtsen_kk_id,
            {% for v in ['status_rumah', 'jenis_lantai', 'jenis_dinding', 'jenis_atap', 'sumber_air_minum',
                         'fasilitas_bab', 'sumber_penerangan', 'bahan_bakar_masak', 'punya_kulkas',
                         'punya_motor', 'punya_mobil', 'punya_tv', 'punya_hp', 'punya_emas', 'punya_lahan',
                         'ternak_sapi', 'ternak_kambing', 'ternak_unggas'] -%}
                cast({{ v }} as varchar) as {{ v }},
            {% endfor -%}
            cast(ln(greatest(coalesce(luas_lantai_m2, 1), 1)) as varchar) as luas_lantai_log,
            cast(ln(greatest(anggota, 1)) as varchar) as anggota_log
        from variables
    ) on columns(* exclude (dtsen_kk_id)) into name variable value nilai
),

score as (
    select
        l.dtsen_kk_id,
        sum(case when w.category = '*' then w.weight * try_cast(l.nilai as double) else w.weight end) as skor_variabel
    from long as l
    inner join {{ ref('pmt_weights') }} as w
        on l.variable = w.variable and (l.nilai = w.category or w.category = '*')
    group by l.dtsen_kk_id
)

select
    v.*,
    round(
        (
            select pw.weight from {{ ref('pmt_weights') }} as pw
            where pw.variable = '(intercept)'
        )
        + coalesce(s.skor_variabel, 0),
        4
    ) as skor_pmt
from variables as v
left join score as s using (dtsen_kk_id)
