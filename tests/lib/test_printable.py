from pathlib import Path

from dtsen_pipeline.lib.printable import printable


def test_control_characters_in_a_name_are_escaped():
    assert printable("dukcapil\x1b[31m_2025\n-01.csv") == "dukcapil\\x1b[31m_2025\\n-01.csv"
    assert printable(Path("/x/a\rb\x07\x9b.csv")) == "a\\rb\\x07\\x9b.csv"
    assert printable("p3ke_\u202egnp.xlsx") == "p3ke_\\u202egnp.xlsx"
    assert printable(b"bad\xff.csv".decode("utf-8", "surrogateescape")) == "bad\\xff.csv"


def test_a_safe_name_is_unchanged():
    for name in ("Pekerja Rentan Kaltim 2025-01.xlsx", "ФАТИМА.csv", "~$P3KE.xlsx", "a\\b"):
        assert printable(name) == name
