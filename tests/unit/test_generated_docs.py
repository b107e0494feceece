"""Generated documents match the code they describe."""

from prediag_tools.docs import TRIAGE_DOC, triage_markdown


def test_triage_rules_page_matches_the_rules_table():
    assert TRIAGE_DOC.read_text(encoding="utf-8") == triage_markdown(), (
        "docs/triage.md is out of date: run `make docs`"
    )
