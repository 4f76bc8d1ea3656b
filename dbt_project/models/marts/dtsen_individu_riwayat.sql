-- Person history: each month's status, family and region of every person, kept across months
-- (incremental, one month replaced at a time). Entrants and exits are read against it.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='extract_month') }}
select
    extract_month,
    dtsen_id,
    dtsen_kk_id,
    status_hidup,
    kode_kab,
    in_dtks
from {{ ref('dtsen_individu') }}
