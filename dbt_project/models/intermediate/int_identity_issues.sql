-- Every flagged identity value, one row per record and check, with the file and row to look at.
-- A missing value is listed only where the source's mapping provides that column.
{% set checks = [
    ('nik', 'nik_issue'), ('no_kk', 'no_kk_issue'), ('tanggal_lahir', 'tanggal_lahir_issue'),
    ('jenis_kelamin', 'jenis_kelamin_issue'), ('nama', 'nama_issue'), ('kode_desa', 'wilayah_issue'),
] %}
{% for entry in registry_sources() %}
{% for column, issue in checks %}
select source, extract_month, record_key, source_file, source_row, '{{ column }}' as column_name, {{ issue }} as reason
from {{ ref(entry.model) }}
where {{ issue }} is not null {% if column not in entry.mapped %}and {{ issue }} <> 'missing'{% endif %}
union all
{% endfor %}
select source, extract_month, record_key, source_file, source_row, 'nik',
       case when nik_prefix_predates_split then 'prefix_predates_split'
            when nik_kecamatan_unknown then 'unknown_kecamatan'
            when not nik_birth_date_agrees then 'nik_birth_date_disagrees'
            else 'nik_sex_disagrees' end
from {{ ref(entry.model) }}
where nik_prefix_predates_split or nik_kecamatan_unknown or not nik_birth_date_agrees or not nik_sex_agrees
{% if not loop.last %}union all{% endif %}
{% endfor %}
