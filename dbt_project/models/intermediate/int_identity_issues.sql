-- Every flagged identity value, one row per record and check, with the file and row to look at.
-- One pass over each staging model: its checks are unnested into rows and the empty ones dropped.
-- A missing value is listed only where the source's mapping provides that column.
{% set checks = [
    ('nik', 'nik_issue'), ('no_kk', 'no_kk_issue'), ('tanggal_lahir', 'tanggal_lahir_issue'),
    ('jenis_kelamin', 'jenis_kelamin_issue'), ('nama', 'nama_issue'), ('kode_desa', 'wilayah_issue'),
] %}
{% for entry in registry_sources() %}
    select
        source,
        extract_month,
        record_key,
        source_file,
        source_row,
        issue.column_name,
        issue.reason
    from (
        select
            source,
            extract_month,
            record_key,
            source_file,
            source_row,
            unnest([
                {%- for column, check in checks %}
                    {
                        'column_name': '{{ column }}',
                        'reason': {% if column in entry.mapped %}{{ check }}{% else %}
                            nullif({{ check }}, 'missing')
                        {% endif %}
                    },
                {%- endfor %}
                {
                    'column_name': 'nik',
                    'reason': case
                        when nik_prefix_predates_split then 'prefix_predates_split'
                        when nik_kecamatan_unknown then 'unknown_kecamatan'
                        when not nik_birth_date_agrees then 'nik_birth_date_disagrees'
                        when not nik_sex_agrees then 'nik_sex_disagrees'
                    end
                }
            ]) as issue
        from {{ ref(entry.model) }}
    )
    where issue.reason is not null
    {% if not loop.last %}union all{% endif %}
{% endfor %}
