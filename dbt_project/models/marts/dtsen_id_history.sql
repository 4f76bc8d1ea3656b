-- How dtsen_ids changed, month by month, up to the extract month: new persons, ids merged into
-- another (the same person found twice), ids split off (two persons found in one), ids absent.
select
    extract_month,
    event,
    dtsen_id,
    related_dtsen_id,
    records
from {{ source('linkage', 'id_history') }}
where extract_month <= '{{ extract_month() }}'
