{#
  One normaliser per field, used by every source's staging model (through stage_identity).
  Each returns a SQL expression over a text column.
#}

{#
  Digits as given: everything but decimal digits dropped. Digits of other scripts (Arabic-Indic
  ٣٢٧٦, fullwidth ３２７６) are kept, so nik_issue and no_kk_issue say 'non_ascii_digits' rather
  than 'missing' (they were dropped with the rest before).
#}
{% macro digits_only(col) -%}
    nullif(regexp_replace(coalesce({{ col }}, ''), '[^\p{Nd}]', '', 'g'), '')
{%- endmacro %}

{# Two-digit day/month/year parts of a 16-digit number, as integers (NULL when not digits). #}
{% macro part(col, start) -%}
    try_cast(substr({{ col }}, {{ start }}, 2) as integer)
{%- endmacro %}

{#
  The birth date a NIK carries (DDMMYY, 40 added to the day for women), as a real calendar date or
  NULL. The century is the latest that does not put the birth after the reference date.
#}
{% macro nik_birth_date(nik, reference) -%}
    try_strptime(
        lpad((case when {{ part(nik, 7) }} > 40 then {{ part(nik, 7) }} - 40 else {{ part(nik, 7) }} end)::varchar, 2, '0')
        || '-' || substr({{ nik }}, 9, 2) || '-'
        || (case when {{ part(nik, 11) }} <= year({{ reference }}) % 100 then 2000 else 1900 end + {{ part(nik, 11) }})::varchar,
        '%d-%m-%Y')::date
{%- endmacro %}

{#
  NIK: 16 digits PP KK CC DDMMYY SSSS. Invalid when it cannot be a NIK: not 16 digits, an unknown
  province, a 00 kabupaten or kecamatan, a birth date no calendar has, serial 0000. A kecamatan
  missing from the current list is not invalid (codes change after region splits): see the
  nik_kecamatan_unknown and nik_prefix_predates_split flags. Returns the first reason, or NULL.
#}
{% macro nik_issue(nik, province_known, reference) -%}
    case
        when {{ nik }} is null then 'missing'
        when regexp_matches({{ nik }}, '[^0-9]') then 'non_ascii_digits'
        when length({{ nik }}) <> 16 then 'wrong_length'
        when not {{ province_known }} then 'unknown_province'
        when substr({{ nik }}, 3, 2) = '00' or substr({{ nik }}, 5, 2) = '00' then 'bad_region_code'
        when {{ nik_birth_date(nik, reference) }} is null then 'bad_birth_date'
        when substr({{ nik }}, 13, 4) = '0000' then 'bad_serial'
    end
{%- endmacro %}

{# No. KK: 16 digits, issuing kecamatan, issue date DDMMYY, serial. #}
{% macro no_kk_issue(no_kk, prefix_status) -%}
    case
        when {{ no_kk }} is null then 'missing'
        when regexp_matches({{ no_kk }}, '[^0-9]') then 'non_ascii_digits'
        when length({{ no_kk }}) <> 16 then 'wrong_length'
        when {{ prefix_status }} is null then 'unknown_kecamatan'
        when not {{ part(no_kk, 7) }} between 1 and 31 or not {{ part(no_kk, 9) }} between 1 and 12 then 'bad_issue_date'
    end
{%- endmacro %}

{# Does the NIK's date part (DDMMYY, day + 40 for women) carry this birth date, and this sex? #}
{% macro nik_birth_date_agrees(nik, birth_date) -%}
    ({{ part(nik, 7) }} % 40 = day({{ birth_date }}) and {{ part(nik, 9) }} = month({{ birth_date }})
        and {{ part(nik, 11) }} = year({{ birth_date }}) % 100)
{%- endmacro %}

{% macro nik_sex_agrees(nik, sex) -%}
    (({{ part(nik, 7) }} > 40) = ({{ sex }} = 'P'))
{%- endmacro %}

{# Sex from every coding the sources use: L/P, LAKI-LAKI/PEREMPUAN, 1/2. #}
{% macro normalise_sex(col) -%}
    case
        when upper(trim({{ col }})) in ('L', 'LK', 'LAKI-LAKI', 'LAKI LAKI', '1', 'PRIA', 'M') then 'L'
        when upper(trim({{ col }})) in ('P', 'PR', 'PEREMPUAN', '2', 'WANITA', 'F', 'W') then 'P'
    end
{%- endmacro %}

{#
  Dates in every form the sources use: the source's declared formats first, then the common ones,
  then Excel serial day numbers. A year alone parses to NULL here (see birth_year); impossible dates
  (31-02-1980, 00-00-1975) parse to NULL and are flagged by date_issue.
#}
{% macro parse_date(col, formats=[]) -%}
    {%- set common = ['%Y-%m-%d', '%d-%m-%Y', '%d/%m/%Y', '%Y%m%d', '%Y/%m/%d', '%d.%m.%Y'] -%}
    coalesce(
    {%- for f in formats + common %}
        try_strptime(trim({{ col }}), '{{ f }}')::date,
    {%- endfor %}
        case when regexp_full_match(trim({{ col }}), '[1-9][0-9]{4}')
             then date '1899-12-30' + cast(trim({{ col }}) as integer) end
    )
{%- endmacro %}

{% macro birth_year(raw, parsed) -%}
    coalesce(year({{ parsed }}), case when regexp_full_match(trim({{ raw }}), '(19|20)[0-9]{2}')
                                      then cast(trim({{ raw }}) as integer) end)
{%- endmacro %}

{#
  A birth date's first problem, or NULL. A day and month registers type for an unknown day (var
  placeholder_birth_day_months in dbt_project.yml, 'DD-MM': 01-01, 01-07, 31-12) is
  'placeholder_DD_MM': linkage keeps its year, not the date.
#}
{% macro date_issue(raw, parsed, month_end) -%}
    case
        when {{ raw }} is null then 'missing'
        when {{ parsed }} is null and regexp_full_match(trim({{ raw }}), '(19|20)[0-9]{2}') then 'year_only'
        when {{ parsed }} is null then 'not_a_date'
        when {{ parsed }} > {{ month_end }} then 'in_the_future'
        when year({{ parsed }}) < 1900 then 'implausible_year'
    {%- for day_month in var('placeholder_birth_day_months') %}
        {%- set day, month = day_month.split('-') %}
        when day({{ parsed }}) = {{ day | int }} and month({{ parsed }}) = {{ month | int }}
            then 'placeholder_{{ day }}_{{ month }}'
    {%- endfor %}
    end
{%- endmacro %}

{#
  Names, inside out: degrees after a comma dropped (", S.Pd"); bin/binti and what follows split
  off (see nama_ayah); punctuation and digits to spaces; titles removed (H., Hj., Drs., dr., ...);
  the Muhammad family of spellings (M., Moh, Muh., ...) unified; old orthography mapped to the new
  (oe -> u, dj -> j, tj -> c); spaces collapsed. Before all that, letters that only look Latin are
  made Latin (latin_letters): accents dropped (JOSÉ -> JOSE), Cyrillic and Greek look-alikes
  (А, Е, О, Р, С, Н, Κ, ...) and fullwidth letters mapped, where they used to be stripped
  (FАTHАN with Cyrillic А became F TH N). Letters of other scripts are still dropped:
  name_script_issue says so.
#}
{% macro latin_letters(col) -%}
    translate(strip_accents(upper(coalesce({{ col }}, ''))),
        'АВЕКМНОРСТУХІЈЅԚԜΑΒΕΖΗΙΚΜΝΟΡΤΥΧＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ',
        'ABEKMHOPCTYXIJSQWABEZHIKMNOPTYXABCDEFGHIJKLMNOPQRSTUVWXYZ')
{%- endmacro %}

{#
  Why a name's letters are not all Latin as given, or NULL: 'non_latin_letters' when a letter of
  another script (no look-alike: Ф, Л, Arabic) is dropped by normalise_name, 'look_alike_letters'
  when letters that look Latin (Cyrillic, Greek, fullwidth) were mapped. For nama_issue.
#}
{% macro name_script_issue(col) -%}
    case
        when regexp_matches(regexp_replace({{ latin_letters(col) }}, '[A-Z]', '', 'g'), '\p{L}')
            then 'non_latin_letters'
        when {{ latin_letters(col) }} <> strip_accents(upper(coalesce({{ col }}, '')))
            then 'look_alike_letters'
    end
{%- endmacro %}

{% macro normalise_name(col) -%}
    nullif(trim(regexp_replace(
        replace(replace(replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(regexp_replace({{ latin_letters(col) }}, ',.*$', ''),
                                       '\s+(BIN|BINTI)\s+.*$', ''),
                        '[^A-Z]+', ' ', 'g'),
                    '\b(H|HJ|DRS|DRA|IR|DR|DRG|KH|PROF)\b', ' ', 'g'),
                '^\s*(MUHAMMAD|MUHAMAD|MOHAMMAD|MOHAMAD|MOHAMMED|MUHAMMED|MOCHAMMAD|MOCHAMAD|MOCH|MOH|MUH|MHD|M)\b',
                'MUHAMMAD'),
            'OE', 'U'), 'DJ', 'J'), 'TJ', 'C'),
        '\s+', ' ', 'g')), '')
{%- endmacro %}

{# The father's name a "bin"/"binti" carries, normalised, or NULL. #}
{% macro father_name(col) -%}
    nullif(trim(regexp_replace(regexp_extract(upper(coalesce({{ col }}, '')), '\s(BIN|BINTI)\s+([^,]*)', 2),
                               '[^A-Z]+', ' ', 'g')), '')
{%- endmacro %}

{#
  A phonetic key for blocking on names that sound alike: from the normalised name, letters that
  Indonesian spellings swap are merged (Y/J, V/F/PH, Z/S, Q/K, KH/H) and vowels after the first
  letter of each word dropped: YUSUF and JUSUF -> JSF, MUHAMMAD -> MHMMD.
#}
{% macro name_key(normal_name) -%}
    nullif(regexp_replace(
        regexp_replace(
            replace(replace(replace(replace(replace(replace({{ normal_name }},
                'KH', 'H'), 'PH', 'F'), 'V', 'F'), 'Z', 'S'), 'Q', 'K'), 'Y', 'J'),
            '\B[AEIOUH]', '', 'g'),
        '\s+', ' ', 'g'), '')
{%- endmacro %}

{# Region codes dotted (32.76.01.1001) or flat (3276011001) -> flat digits. #}
{% macro normalise_region(col) -%}
    {{ digits_only(col) }}
{%- endmacro %}

{# A region name as the reference keys it: "Kabupaten Kutai Kartanegara" -> "KUTAI KARTANEGARA". #}
{% macro region_name_key(col) -%}
    nullif(trim(regexp_replace(regexp_replace(upper(coalesce({{ col }}, '')),
        '^\s*(KABUPATEN|KAB\.?|KOTA ADM\.?|KOTA)\s+', ''), '[^A-Z0-9]+', ' ', 'g')), '')
{%- endmacro %}

{#
  Relationship to the family head, from codes (1 head, 2 spouse, 3 child, 6 parent) or words in
  any case ("KEPALA KELUARGA", "Istri/Suami", BPJS's "PESERTA" for the card holder):
  kepala | pasangan | anak | orang_tua | lainnya; NULL when absent.
#}
{% macro normalise_relationship(col) -%}
    case
        when nullif(trim({{ col }}), '') is null then null
        when upper(trim({{ col }})) in ('1', 'KEPALA KELUARGA', 'KEPALA', 'KRT', 'PESERTA') then 'kepala'
        when upper(trim({{ col }})) in ('2', 'ISTRI/SUAMI', 'SUAMI/ISTRI', 'ISTRI', 'SUAMI') then 'pasangan'
        when upper(trim({{ col }})) in ('3', 'ANAK') then 'anak'
        when upper(trim({{ col }})) in ('6', 'ORANG TUA', 'MERTUA') then 'orang_tua'
        else 'lainnya'
    end
{%- endmacro %}

{#
  A street address as a key for "the same dwelling": upper case, the usual abbreviations unified
  (JALAN/JLN -> JL, GANG -> GG, NOMOR -> NO), punctuation to spaces, spaces collapsed.
#}
{% macro address_key(col) -%}
    nullif(trim(regexp_replace(
        regexp_replace(regexp_replace(regexp_replace(
            regexp_replace(upper(coalesce({{ col }}, '')), '[^A-Z0-9/]+', ' ', 'g'),
            '\b(JALAN|JLN)\b', 'JL', 'g'), '\bGANG\b', 'GG', 'g'), '\bNOMOR\b', 'NO', 'g'),
        '\s+', ' ', 'g')), '')
{%- endmacro %}
