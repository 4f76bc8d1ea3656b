{{ config(schema="intermediate", materialized="table") }}
-- PMT variables and welfare score per family (dtsen_kk_id) for the month. The variables come from
-- the family's latest Regsosek form; the weights from seeds/pmt_weights.csv (dtsen_pipeline/pmt.py
-- documents and calibrates them). Families without a form have no score (and no desil).
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

per_family as (
    select * from form_family
    qualify row_number() over (partition by dtsen_kk_id order by form_month desc, id_keluarga_sumber asc) = 1
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
