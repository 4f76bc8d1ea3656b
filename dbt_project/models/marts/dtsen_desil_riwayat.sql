-- Desil history: each month's desil of every family, kept across months (incremental: a month
-- rebuilt replaces only its own rows). Month-over-month views read the previous month here.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='extract_month') }}
select
    extract_month,
    dtsen_kk_id,
    kode_kab,
    desil,
    anggota
from {{ ref('dtsen_keluarga') }}
