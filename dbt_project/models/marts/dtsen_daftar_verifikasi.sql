-- Next month's field work list: per kabupaten and field worker, the families to visit (and the
-- proposals and objections linked to no family yet), ranked, each with why it is on the list.
-- A family is listed for each reason of seeds/verifikasi_prioritas.csv it has; its score is the sum
-- of the weights of its reasons (each kind once: three programmes' exclusion errors are one
-- reason) plus how far past the line its strongest reason is (jarak, in desil steps) times the dbt
-- var verifikasi_bobot_jarak: a family four desil past a cut-off is a likelier error than one a
-- step past it. Ties go to the larger jarak, then to the age of its oldest open item. The
-- threshold of a desil jump is the dbt var verifikasi_desil_lompat.
with reasons as (
    -- Programme targeting errors: jarak is how many desil past the programme's cut-off.
    select
        s.dtsen_kk_id as sasaran,
        s.dtsen_kk_id,
        s.kode_kab,
        s.status as alasan,
        s.status || ':' || s.programme as rincian,
        case
            when s.status = 'inclusion_error' then coalesce(s.desil - p.max_desil, 0)
            else p.max_desil - s.desil + 1
        end as jarak,
        null::integer as umur_hari
    from {{ ref('dtsen_program_sasaran') }} as s
    inner join {{ ref('programmes') }} as p on s.programme = p.programme
    where s.status in ('inclusion_error', 'exclusion_error')
    union all
    -- Proposals and objections no visit has decided yet; one linked to no family is its own target.
    select
        coalesce(k.dtsen_kk_id, k.source || ':' || k.id_usulan) as sasaran,
        k.dtsen_kk_id,
        k.kode_kab,
        case when k.source = 'sanggahan' then 'sanggahan_belum_diverifikasi' else 'usulan_belum_diverifikasi' end
            as alasan,
        case when k.source = 'sanggahan' then 'sanggahan_belum_diverifikasi:' else 'usulan_belum_diverifikasi:' end
        || k.id_usulan as rincian,
        0 as jarak,
        k.umur_hari
    from {{ ref('int_koreksi') }} as k
    where k.status in ('received', 'linked', 'awaiting_visit')
    union all
    -- A person presumed or found dead still in a programme's receipt list this month.
    select distinct
        coalesce(i.dtsen_kk_id, i.dtsen_id) as sasaran,
        i.dtsen_kk_id,
        i.kode_kab,
        'meninggal_masih_menerima' as alasan,
        'meninggal_masih_menerima:' || c.source as rincian,
        0 as jarak,
        null::integer as umur_hari
    from {{ ref('dtsen_individu') }} as i
    inner join {{ source('linkage', 'person_clusters') }} as c
        on i.dtsen_id = c.dtsen_id and c.extract_month = '{{ extract_month() }}'
    where
        i.status_hidup in ('meninggal', 'diduga_meninggal')
        and c.source in (select p.receipt_source from {{ ref('programmes') }} as p)
    union all
    -- A desil that moved by the threshold or more since last month: jarak is by how much.
    select
        n.dtsen_kk_id as sasaran,
        n.dtsen_kk_id,
        n.kode_kab,
        'desil_lompat' as alasan,
        'desil_lompat:' || p.desil || '->' || n.desil as rincian,
        abs(n.desil - p.desil) as jarak,
        null::integer as umur_hari
    from {{ ref('dtsen_desil_riwayat') }} as n
    inner join {{ ref('dtsen_desil_riwayat') }} as p
        on n.dtsen_kk_id = p.dtsen_kk_id and p.extract_month = {{ previous_month() }}
    where
        n.extract_month = '{{ extract_month() }}'
        and abs(n.desil - p.desil) >= {{ var('verifikasi_desil_lompat') }}
),

-- One row per target and kind of reason (a kind's weight counts once).
kinds as (
    select
        r.sasaran,
        r.alasan,
        w.bobot,
        any_value(r.dtsen_kk_id) as dtsen_kk_id,
        min(r.kode_kab) as kode_kab,
        max(r.jarak) as jarak,
        max(r.umur_hari) as umur_hari,
        string_agg(r.rincian, '; ' order by r.rincian asc) as rincian
    from reasons as r
    inner join {{ ref('verifikasi_prioritas') }} as w on r.alasan = w.alasan
    group by r.sasaran, r.alasan, w.bobot
),

targets as (
    select
        k.sasaran,
        any_value(k.dtsen_kk_id) as dtsen_kk_id,
        -- the family's kabupaten now, else where its reasons place it
        coalesce(any_value(f.kode_kab), min(k.kode_kab)) as kode_kab,
        any_value(f.desil) as desil,
        (sum(k.bobot) + max(k.jarak) * {{ var('verifikasi_bobot_jarak') }})::integer as skor,
        max(k.jarak) as jarak,
        max(k.umur_hari) as umur_usulan_hari,
        (list(k.alasan order by k.bobot desc, k.jarak desc, k.alasan asc))[1] as alasan_utama,
        string_agg(k.rincian, '; ' order by k.bobot desc, k.alasan asc) as alasan,
        count(*) as jumlah_alasan
    from kinds as k
    left join {{ ref('dtsen_keluarga') }} as f on k.dtsen_kk_id = f.dtsen_kk_id
    group by k.sasaran
),

-- The field workers seen in the visits, each in the kabupaten and role of their latest visit.
workers as (
    select
        id_petugas,
        kode_kab,
        peran
    from {{ ref('int_kunjungan') }}
    where id_petugas is not null
    qualify row_number() over (
        partition by id_petugas order by bulan_kunjungan desc, tanggal_kunjungan desc, id_kunjungan desc
    ) = 1
),

-- A family goes back to the worker who visited it last (its PKH facilitator, say) while that
-- worker still works in its kabupaten.
last_visit as (
    select
        dtsen_kk_id,
        id_petugas
    from {{ ref('int_kunjungan') }}
    where dtsen_kk_id is not null and id_petugas is not null
    qualify row_number() over (
        partition by dtsen_kk_id order by bulan_kunjungan desc, tanggal_kunjungan desc, id_kunjungan desc
    ) = 1
),

kept as (
    select
        t.*,
        w.id_petugas,
        w.peran,
        'kunjungan_sebelumnya' as penugasan
    from targets as t
    inner join last_visit as v on t.dtsen_kk_id = v.dtsen_kk_id
    inner join workers as w on v.id_petugas = w.id_petugas and t.kode_kab = w.kode_kab
),

-- The others are dealt in rank order (urutan, from 0), in turn, to the kabupaten's TKSK (the workers who verify
-- proposals and objections), or to all its workers when it has no TKSK; none in a kabupaten
-- with no worker seen yet (the Dinsos assigns them).
pool as (
    select
        w.kode_kab,
        w.id_petugas,
        w.peran,
        row_number() over (partition by w.kode_kab order by w.id_petugas) - 1 as giliran,
        count(*) over (partition by w.kode_kab) as petugas
    from workers as w
    where
        w.peran = 'TKSK'
        or not exists (
            select 1 from workers as x
            where x.kode_kab = w.kode_kab and x.peran = 'TKSK'
        )
),

rest as (
    select
        t.*,
        row_number() over (
            partition by t.kode_kab
            order by t.skor desc, t.jarak desc, t.umur_usulan_hari desc nulls last, t.sasaran asc
        ) - 1 as urutan
    from targets as t
    where t.sasaran not in (select k.sasaran from kept as k)
),

assigned as (
    select * from kept
    union all by name
    select
        r.*,
        p.id_petugas,
        p.peran,
        case when p.id_petugas is not null then 'bergilir' end as penugasan
    from rest as r
    left join pool as p on r.kode_kab = p.kode_kab and r.urutan % p.petugas = p.giliran
),

kabupaten as (
    {{ kabupaten_names() }}
)

select
    '{{ extract_month() }}' as extract_month,
    strftime(strptime('{{ extract_month() }}-01', '%Y-%m-%d') + interval 1 month, '%Y-%m') as bulan_kerja,
    a.kode_kab,
    k.nama_kabupaten,
    a.id_petugas,
    a.peran as peran_petugas,
    a.penugasan,
    row_number() over (
        partition by a.kode_kab order by a.skor desc, a.jarak desc, a.umur_usulan_hari desc nulls last, a.sasaran asc
    ) as peringkat_kabupaten,
    row_number() over (
        partition by a.kode_kab, a.id_petugas
        order by a.skor desc, a.jarak desc, a.umur_usulan_hari desc nulls last, a.sasaran asc
    ) as peringkat_petugas,
    a.sasaran,
    a.dtsen_kk_id,
    a.desil,
    a.skor,
    a.jarak,
    a.umur_usulan_hari,
    a.alasan_utama,
    a.alasan,
    a.jumlah_alasan
from assigned as a
left join kabupaten as k on a.kode_kab = k.kode_kab
