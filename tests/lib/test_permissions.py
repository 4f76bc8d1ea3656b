"""Working folders that hold identity are readable by their owner only (issue 15, point 12):
ensure_dirs makes them 0700, tightens ones made before, never loosens one, and leaves the
analysts' publish folder as it is. (tests/test_quoted_data_root.py checks the modes after a real run.)"""

from __future__ import annotations

import stat

from dtsen_pipeline.lib import paths


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_dirs_makes_identity_folders_owner_only(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # Folders made before this change (or by hand) with the usual umask.
    for name, mode in (
        ("landing", 0o755),
        ("warehouse", 0o755),
        ("review", 0o775),
        ("publish", 0o755),
        ("logs", 0o711),
        ("secrets", 0o755),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(mode)
    salt = tmp_path / "secrets" / "pseudonym_salt"
    salt.write_text("x" * 32)
    salt.chmod(0o644)
    (tmp_path / "secrets").chmod(0o500)  # already closed to others, and read-only for its owner

    paths.ensure_dirs()

    for name in (
        "landing",
        "truth",
        "warehouse",
        "warehouse/models",
        "review",
        "logs",
        "reports",
        "dagster_home",
    ):
        assert _mode(tmp_path / name) == 0o700, name
    assert _mode(tmp_path / "secrets") == 0o500  # tightened never means loosened
    assert _mode(salt) == 0o600
    assert _mode(tmp_path / "publish") == 0o755  # analysts read releases
    assert set(paths.private_dirs()) >= {
        tmp_path / n
        for n in (
            "landing",
            "truth",
            "warehouse",
            "review",
            "logs",
            "reports",
            "dagster_home",
            "secrets",
        )
    }


def test_folders_moved_elsewhere_are_tightened_too(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path / "root"))
    monkeypatch.setenv("DTSEN_LANDING_DIR", str(tmp_path / "drop" / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    assert _mode(tmp_path / "drop" / "landing") == 0o700
    assert _mode(tmp_path / "root" / "publish") & 0o055 == 0o055
