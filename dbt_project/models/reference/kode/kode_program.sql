-- Code list: the programmes of seeds/programmes.csv, with their Indonesian names and cut-offs.
select
    programme as kode,
    nama as label,
    'Layak bila desil keluarga 1-' || max_desil || ' (per ' || unit || '); penerimaan dibaca dari '
    || receipt_source || '; dasar: ' || dasar as keterangan,
    max_desil as batas_desil
from {{ ref('programmes') }}
