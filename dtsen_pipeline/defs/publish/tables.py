"""What a release holds: release table name -> warehouse table."""

RELEASE_TABLES = {
    "dtsen_individu": "marts.dtsen_individu",
    "dtsen_crosswalk": "marts.dtsen_crosswalk",
    "dtsen_id_history": "marts.dtsen_id_history",
    "dtsen_keluarga": "marts.dtsen_keluarga",
    "dtsen_rumah_tangga": "marts.dtsen_rumah_tangga",
    "dtsen_program_sasaran": "marts.dtsen_program_sasaran",
    "dtsen_program_kabupaten": "marts.dtsen_program_kabupaten",
    "dtsen_bpjs_tk_gap": "marts.dtsen_bpjs_tk_gap",
    "dtsen_kelas_menengah_rentan": "marts.dtsen_kelas_menengah_rentan",
    "dtsen_perubahan_bulanan": "marts.dtsen_perubahan_bulanan",
    "dtsen_progres_pemutakhiran": "marts.dtsen_progres_pemutakhiran",
}
