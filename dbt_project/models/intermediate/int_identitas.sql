-- Every source's staged identities in one relation: the input to person linkage.
{% set staged = ['stg_dukcapil__individu', 'stg_dtks__individu'] %}
{% for model in staged %}
select * from {{ ref(model) }}
{% if not loop.last %}union all by name{% endif %}
{% endfor %}
