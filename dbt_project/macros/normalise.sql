{#
  One normaliser per field, used by every source's staging model (via stage_identity).
  Each returns a SQL expression over a text column.
#}

{% macro digits_only(col) -%}
    nullif(regexp_replace(coalesce({{ col }}, ''), '[^0-9]', '', 'g'), '')
{%- endmacro %}

{# NIK: 16 digits PP KK CC DDMMYY SSSS; day 01-31 (men) or 41-71 (women), month 01-12, serial > 0. #}
{% macro nik_issue(nik) -%}
    case
        when {{ nik }} is null then 'missing'
        when length({{ nik }}) <> 16 then 'wrong_length'
        when substr({{ nik }}, 1, 2)::int < 11 then 'bad_province'
        when not (substr({{ nik }}, 7, 2)::int between 1 and 31 or substr({{ nik }}, 7, 2)::int between 41 and 71)
            then 'bad_birth_day'
        when not substr({{ nik }}, 9, 2)::int between 1 and 12 then 'bad_birth_month'
        when substr({{ nik }}, 13, 4) = '0000' then 'bad_serial'
    end
{%- endmacro %}

{#
  Does the NIK's date part (DDMMYY, day + 40 for women) agree with the record's own birth date and
  sex? A valid NIK that does not is likely someone else's (a head's NIK recorded for a member).
#}
{% macro nik_matches_birth(nik, birth_date, sex) -%}
    (substr({{ nik }}, 7, 6) = lpad((day({{ birth_date }}) + case when {{ sex }} = 'P' then 40 else 0 end)::varchar, 2, '0')
        || strftime({{ birth_date }}, '%m%y'))
{%- endmacro %}

{# Sex from every coding the sources use: L/P, LAKI-LAKI/PEREMPUAN, 1/2. #}
{% macro normalise_sex(col) -%}
    case
        when upper(trim({{ col }})) in ('L', 'LK', 'LAKI-LAKI', 'LAKI LAKI', '1', 'PRIA', 'M') then 'L'
        when upper(trim({{ col }})) in ('P', 'PR', 'PEREMPUAN', '2', 'WANITA', 'F') then 'P'
    end
{%- endmacro %}

{# Dates in every form the sources use; placeholders are kept but flagged in staging. #}
{% macro parse_date(col) -%}
    coalesce(
        try_strptime(trim({{ col }}), '%Y-%m-%d'),
        try_strptime(trim({{ col }}), '%d-%m-%Y'),
        try_strptime(trim({{ col }}), '%d/%m/%Y'),
        try_strptime(trim({{ col }}), '%Y%m%d')
    )::date
{%- endmacro %}

{#
  Names, inside out: degrees after a comma dropped (", S.Pd"); punctuation and digits to spaces;
  titles removed (H., Hj., Drs., dr., ...); the Muhammad family of spellings (M., Moh, Muh., ...)
  unified; old orthography mapped to the new (oe -> u, dj -> j, tj -> c); spaces collapsed.
#}
{% macro normalise_name(col) -%}
    nullif(trim(regexp_replace(
        replace(replace(replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(upper(coalesce({{ col }}, '')), ',.*$', ''),
                        '[^A-Z]+', ' ', 'g'),
                    '\b(H|HJ|DRS|DRA|IR|DR|DRG|KH|PROF)\b', ' ', 'g'),
                '^\s*(MUHAMMAD|MUHAMAD|MOHAMMAD|MOHAMAD|MOHAMMED|MUHAMMED|MOCH|MOH|MUH|MHD|M)\b', 'MUHAMMAD'),
            'OE', 'U'), 'DJ', 'J'), 'TJ', 'C'),
        '\s+', ' ', 'g')), '')
{%- endmacro %}

{# Region codes dotted (32.76.01.1001) or flat (3276011001) -> flat digits. #}
{% macro normalise_region(col) -%}
    {{ digits_only(col) }}
{%- endmacro %}
