-- Which person (dtsen_id) each source record is, for the extract month: published with every
-- release so a programme can go from its own record ids to DTSEN and back.
select
    clusters.extract_month,
    identitas.source,
    identitas.source_record_id,
    clusters.dtsen_id
from {{ source('linkage', 'person_clusters') }} as clusters
inner join {{ ref('int_identitas') }} as identitas
    on clusters.record_key = identitas.record_key and clusters.extract_month = identitas.extract_month
where clusters.extract_month = '{{ extract_month() }}'
