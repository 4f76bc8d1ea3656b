-- Every registered source's staged identities in one relation: the input to person linkage.
{% for entry in registry_sources() %}
    select * from {{ ref(entry.model) }}
    {% if not loop.last %}union all by name{% endif %}
{% endfor %}
