-- One row per linked person (dtsen_id) for the extract month: the golden record.
-- Survivorship is declared in seeds/survivorship.csv: for each field group the sources in rank
-- order (Dukcapil wins identity and region; the most recent survey wins socio-economic fields).
-- Within a rank a record with a valid NIK wins, then the lowest record key (deterministic).
-- Every golden field carries its provenance: the source (and for socio-economic fields the
-- extract month) it came from.
-- A value staging flagged as impossible never wins: a NIK must be valid, a birth date neither in
-- the future nor before 1900. The region (kabupaten, and the village within it) comes from one
-- record whose code is in the reference, so a code and its names never mix two provinces.
-- Socio-economic fields are free text in the extracts: only words of seeds/kosakata.csv are
-- published; anything else (a typed identity, a spreadsheet formula) becomes 'lainnya'.
-- Proposals, objections and visits (the correction sources) supply no field as records. A correction
-- changes a golden field only once verified (intermediate.int_koreksi, status 'accepted'), by the
-- ranks of seeds/survivorship.csv, and its provenance names it ('usulan_desa:USL-...',
-- 'verifikasi_lapangan:VL-...'): a confirmed field correction (identitas rank 0) outranks every
-- register; a death a visit found or confirmed (status_hidup) outranks Dukcapil's listing.
{% set identity_fields = ['nik', 'nama_normal', 'tanggal_lahir', 'jenis_kelamin', 'no_kk'] %}
with clusters as (
    select
        record_key,
        dtsen_id
    from {{ source('linkage', 'person_clusters') }}
    where extract_month = '{{ extract_month() }}'
),

records as (
    select
        -- only the columns used below: at 3M persons (9.5M records) every column more is
        -- gigabytes held by the golden group-by, which must fit the DuckDB cap (8 GB)
        i.record_key,
        i.source,
        i.extract_month,
        i.attributes,
        i.nik,
        i.nik_valid,
        i.no_kk,
        i.no_kk_issue,
        i.nama_normal,
        i.tanggal_lahir,
        i.jenis_kelamin,
        i.kode_kab,
        i.kode_desa,
        i.alamat,
        c.dtsen_id,
        -- a sortable survivorship key per field group: rank, then valid NIK, then record key
        lpad(cast(coalesce(s_id.rank, 99) as varchar), 3, '0') || case when i.nik_valid then '0' else '1' end
        || i.record_key as key_identitas,
        lpad(cast(coalesce(s_reg.rank, 99) as varchar), 3, '0') || i.record_key as key_wilayah,
        coalesce(i.tanggal_lahir_issue not in ('in_the_future', 'implausible_year'), true) as tanggal_lahir_usable,
        i.kode_kab is not null
        and coalesce(i.wilayah_issue in ('kabupaten_only', 'resolved_from_names'), true) as wilayah_usable
    from {{ ref('int_identitas') }} as i
    inner join clusters as c using (record_key)
    left join {{ ref('survivorship') }} as s_id on s_id.field_group = 'identitas' and i.source = s_id.source
    left join {{ ref('survivorship') }} as s_reg on s_reg.field_group = 'wilayah' and i.source = s_reg.source
    -- Registers only: proposals, objections and visits link to the person but change no field here
    -- unless verified (the corrections below).
    where i.extract_month = '{{ extract_month() }}' and {{ is_register('i.source') }}
),

golden as (
    select
        dtsen_id,
        {% for f in identity_fields -%}
            {%- set usable = {'nik': ' and nik_valid', 'tanggal_lahir': ' and tanggal_lahir_usable'}.get(f, '') %}
            arg_min({{ f }}, key_identitas) filter (where {{ f }} is not null{{ usable }}) as {{ f }},
            arg_min(source, key_identitas) filter (where {{ f }} is not null{{ usable }}) as {{ f }}_sumber,
        {% endfor -%}
        arg_min(kode_kab, key_wilayah) filter (where wilayah_usable) as kode_kab,
        arg_min(source, key_wilayah) filter (where wilayah_usable) as wilayah_sumber,
        count(*) as n_records,
        list_sort(list_distinct(list(source))) as sources,
        bool_or(source = 'dukcapil') as in_dukcapil,
        bool_or(source = 'dtks') as in_dtks,
        bool_or(source = 'bpjs_tk') as peserta_bpjs_tk,
        bool_or(source = 'phk') as terkena_phk,
        -- more than one distinct value, as min <> max: count(distinct) keeps every value of every
        -- person in memory and ran out of the 8 GB cap at 3M persons
        coalesce(min(tanggal_lahir) <> max(tanggal_lahir), false) as conflict_tanggal_lahir,
        coalesce(min(jenis_kelamin) <> max(jenis_kelamin), false) as conflict_jenis_kelamin,
        coalesce(
            min(no_kk) filter (where no_kk_issue is null) <> max(no_kk) filter (where no_kk_issue is null), false
        ) as conflict_no_kk
    from records
    group by dtsen_id
),

-- The village: from the best-ranked usable record in the chosen kabupaten; the street address from
-- the best-ranked of those records that has one (for field visits: identified release only).
golden_desa as (
    select
        r.dtsen_id,
        arg_min(r.kode_desa, r.key_wilayah) as kode_desa,
        arg_min(r.alamat, r.key_wilayah) filter (where r.alamat is not null) as alamat
    from records as r
    inner join golden as g on r.dtsen_id = g.dtsen_id and substr(r.kode_desa, 1, 4) = g.kode_kab
    where r.wilayah_usable and r.kode_desa is not null
    group by r.dtsen_id
),

-- Socio-economic fields: this month's records of ranked sources and each person's latest Regsosek
-- form, the best rank first, then the most recent, then the lowest record key (a person linked to two
-- forms of one month gets the same answer on every run).
socio as (
    select
        r.dtsen_id,
        r.source,
        r.extract_month,
        r.record_key,
        r.attributes
    from records as r
    where
        r.source in (
            select sv.source from {{ ref('survivorship') }} as sv
            where sv.field_group = 'sosial_ekonomi'
        )
    union all
    select
        dtsen_id,
        'regsosek' as source,
        form_month,
        record_key,
        attributes
    from {{ ref('int_regsosek_terakhir') }}
),

socio_ranked as (
    select
        s.dtsen_id,
        s.source,
        s.extract_month,
        replace(lower(trim(coalesce(
            json_extract_string(s.attributes, '$.pendidikan'),
            json_extract_string(s.attributes, '$.PENDIDIKAN')
        ))), ' ', '_') as pendidikan,
        replace(lower(trim(coalesce(
            json_extract_string(s.attributes, '$.status_pekerjaan'),
            json_extract_string(s.attributes, '$.PEKERJAAN')
        ))), ' ', '_') as pekerjaan,
        lpad(cast(coalesce(v.rank, 99) as varchar), 3, '0')
        || (9999 - cast(replace(s.extract_month, '-', '') as integer) % 10000)
        || s.source || s.record_key as key_sosial
    from socio as s
    left join {{ ref('survivorship') }} as v on v.field_group = 'sosial_ekonomi' and s.source = v.source
),

socio_known as (
    select
        s.*,
        s.pendidikan in (
            select kv.nilai from {{ ref('kosakata') }} as kv
            where kv.kolom = 'pendidikan'
        ) as pendidikan_known,
        s.pekerjaan in (
            select kv.nilai from {{ ref('kosakata') }} as kv
            where kv.kolom = 'pekerjaan'
        ) as pekerjaan_known
    from socio_ranked as s
),

socio_golden as (
    select
        dtsen_id,
        coalesce(
            arg_min(pendidikan, key_sosial) filter (where pendidikan_known),
            case when bool_or(pendidikan is not null) then 'lainnya' end
        ) as pendidikan,
        coalesce(
            arg_min(pekerjaan, key_sosial) filter (where pekerjaan_known),
            case when bool_or(pekerjaan is not null) then 'lainnya' end
        ) as pekerjaan,
        arg_min(source, key_sosial) filter (where pekerjaan is not null) as sosial_ekonomi_sumber,
        arg_min(extract_month, key_sosial) filter (where pekerjaan is not null) as sosial_ekonomi_bulan
    from socio_known
    group by dtsen_id
),

-- Kabupaten and province names by kabupaten code, for persons whose village is not known.
kabupaten as (
    {{ kabupaten_names() }}
),

-- Verified deaths: a visit that found the person dead, or a death report a visit or Dukcapil confirmed.
koreksi_mati as (
    select
        dtsen_id,
        min(rank) as rank,
        arg_min(sumber, rank) as sumber
    from (
        select
            k.dtsen_id,
            'verifikasi_lapangan:' || k.id_kunjungan as sumber,
            sv.rank
        from {{ ref('int_kunjungan') }} as k
        inner join
            {{ ref('survivorship') }} as sv
            on sv.field_group = 'status_hidup' and sv.source = 'verifikasi_lapangan'
        where k.hasil = 'MENINGGAL' and k.dtsen_id is not null
        union all
        select
            k.dtsen_id,
            k.source || ':' || k.id_usulan as sumber,
            sv.rank
        from {{ ref('int_koreksi') }} as k
        inner join {{ ref('survivorship') }} as sv on sv.field_group = 'status_hidup' and k.source = sv.source
        where k.status = 'accepted' and k.alasan = 'MENINGGAL' and k.dtsen_id is not null
    )
    group by dtsen_id
),

-- Verified field corrections: the latest accepted one per person and field.
koreksi_identitas as (
    select
        k.dtsen_id,
        k.kolom_diubah,
        k.data_baru,
        k.source || ':' || k.id_usulan as sumber,
        sv.rank
    from {{ ref('int_koreksi') }} as k
    inner join {{ ref('survivorship') }} as sv on sv.field_group = 'identitas' and k.source = sv.source
    where k.status = 'accepted' and k.jenis = 'UBAH' and k.dtsen_id is not null
    qualify row_number() over (
        partition by k.dtsen_id, k.kolom_diubah order by k.tanggal_keputusan desc, k.id_usulan desc
    ) = 1
),

corrected as (
    select
        g.* exclude (tanggal_lahir, tanggal_lahir_sumber, jenis_kelamin, jenis_kelamin_sumber),
        case
            when kd.rank < coalesce(sd.rank, 99) then cast(try_strptime(kd.data_baru, '%d-%m-%Y') as date)
            else g.tanggal_lahir
        end as tanggal_lahir,
        case when kd.rank < coalesce(sd.rank, 99) then kd.sumber else g.tanggal_lahir_sumber end
            as tanggal_lahir_sumber,
        case when ks.rank < coalesce(ss.rank, 99) then upper(ks.data_baru) else g.jenis_kelamin end as jenis_kelamin,
        case when ks.rank < coalesce(ss.rank, 99) then ks.sumber else g.jenis_kelamin_sumber end
            as jenis_kelamin_sumber
    from golden as g
    left join koreksi_identitas as kd
        on
            g.dtsen_id = kd.dtsen_id and kd.kolom_diubah = 'TANGGAL LAHIR'
            and try_strptime(kd.data_baru, '%d-%m-%Y') is not null
    left join koreksi_identitas as ks
        on g.dtsen_id = ks.dtsen_id and ks.kolom_diubah = 'JENIS KELAMIN' and upper(ks.data_baru) in ('L', 'P')
    left join {{ ref('survivorship') }} as sd
        on sd.field_group = 'identitas' and g.tanggal_lahir_sumber = sd.source
    left join {{ ref('survivorship') }} as ss
        on ss.field_group = 'identitas' and g.jenis_kelamin_sumber = ss.source
),

dukcapil_rank as (
    select min(rank) as rank from {{ ref('survivorship') }}
    where field_group = 'status_hidup' and source = 'dukcapil'
),

ever_in_dukcapil as (
    select distinct dtsen_id from {{ source('linkage', 'person_clusters') }}
    where source = 'dukcapil' and extract_month < '{{ extract_month() }}'
)

select
    g.dtsen_id,
    '{{ extract_month() }}' as extract_month,
    g.nik,
    g.nik is not null as nik_valid,
    g.nik_sumber,
    g.no_kk,
    g.no_kk_sumber,
    g.nama_normal as nama,
    g.nama_normal_sumber as nama_sumber,
    g.tanggal_lahir,
    g.tanggal_lahir_sumber,
    date_sub('year', g.tanggal_lahir, {{ month_end("'" ~ extract_month() ~ "'") }}) as umur,  -- full years
    g.jenis_kelamin,
    g.jenis_kelamin_sumber,
    case
        when km.rank < coalesce((select dr.rank from dukcapil_rank as dr), 99) then 'meninggal'
        when g.in_dukcapil then 'hidup'
        when e.dtsen_id is not null then 'diduga_meninggal'
        else 'tidak_diketahui'
    end as status_hidup,
    case
        when km.rank < coalesce((select dr.rank from dukcapil_rank as dr), 99) then km.sumber
        when g.in_dukcapil or e.dtsen_id is not null then 'dukcapil'
    end as status_hidup_sumber,
    gd.kode_desa,
    g.kode_kab,
    substr(g.kode_kab, 1, 2) as kode_prov,
    w.nama_desa,
    coalesce(w.nama_kabupaten, k.nama_kabupaten) as nama_kabupaten,
    coalesce(w.nama_provinsi, k.nama_provinsi) as nama_provinsi,
    gd.alamat,
    g.wilayah_sumber,
    m.dtsen_kk_id,
    m.hubungan_kk,
    s.pendidikan,
    s.pekerjaan,
    s.sosial_ekonomi_sumber,
    s.sosial_ekonomi_bulan,
    g.n_records,
    g.sources,
    g.in_dukcapil,
    g.in_dtks,
    g.peserta_bpjs_tk,
    g.terkena_phk,
    g.conflict_tanggal_lahir,
    g.conflict_jenis_kelamin,
    g.conflict_no_kk
from corrected as g
left join ever_in_dukcapil as e using (dtsen_id)
left join koreksi_mati as km using (dtsen_id)
left join golden_desa as gd using (dtsen_id)
left join {{ ref('ref_wilayah') }} as w on gd.kode_desa = w.kode_desa
left join kabupaten as k on g.kode_kab = k.kode_kab
left join
    {{ source('linkage', 'family_members') }} as m
    on g.dtsen_id = m.dtsen_id and m.extract_month = '{{ extract_month() }}'
left join socio_golden as s on g.dtsen_id = s.dtsen_id
