"""Generated documents match the code they describe."""

from prediag_tools.docs import README, TRIAGE_DOC, readme_with_parameters, triage_markdown


def test_triage_rules_page_matches_the_rules_table():
    assert TRIAGE_DOC.read_text(encoding="utf-8") == triage_markdown(), (
        "docs/triage.md is out of date: run `make docs`"
    )


def test_readme_parameter_table_matches_the_template():
    readme = README.read_text(encoding="utf-8")
    assert readme == readme_with_parameters(readme), (
        "the parameter table of README.md is out of date: run `make docs`"
    )
