"""File names of the downloads."""

from __future__ import annotations

from datetime import date

import pytest

from vkurse_stats.export import export_filename

D1, D2 = date(2026, 3, 1), date(2026, 3, 31)


def test_name_says_company_and_range() -> None:
    assert export_filename("acme", D1, D2, "xlsx") == "vkurse-stats_acme_2026-03-01_2026-03-31.xlsx"
    assert export_filename("acme-2.ru", D1, D2, "csv") == ("vkurse-stats_acme-2.ru_2026-03-01_2026-03-31.csv")


@pytest.mark.parametrize(
    ("company", "expected"),
    [
        ("Ромашка", "Ромашка"),
        ("ООО Ромашка", "ООО_Ромашка"),
        ("../../etc/passwd", "etc_passwd"),
        ('a"b;c\\d', "a_b_c_d"),
        ("x\r\nContent-Type: text/html", "x_Content-Type_text_html"),
        ("...", "company"),
        ("е\u0308лка", "ёлка"),  # decomposed "е" + U+0308 becomes one letter (NFC)
    ],
)
def test_name_is_safe_for_any_company_id(company: str, expected: str) -> None:
    name = export_filename(company, D1, D2, "csv")
    assert name == f"vkurse-stats_{expected}_2026-03-01_2026-03-31.csv"
    assert not any(c in name for c in '/\\"\r\n;:')


def test_long_company_ids_are_cut() -> None:
    assert len(export_filename("x" * 256, D1, D2, "xlsx")) < 130


def test_bad_extension() -> None:
    with pytest.raises(ValueError):
        export_filename("acme", D1, D2, "xlsx/../x")
