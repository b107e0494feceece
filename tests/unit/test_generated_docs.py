"""Generated documents match the code they describe."""

from prediag.triage.rules import PARSED_FILE
from prediag_tools.docs import (
    README,
    TRIAGE_DOC,
    parsed_rules_json,
    readme_with_parameters,
    triage_markdown,
)


def test_triage_rules_page_matches_the_rules_table():
    assert TRIAGE_DOC.read_text(encoding="utf-8") == triage_markdown(), (
        "docs/triage.md is out of date: run `make docs`"
    )


def test_readme_parameter_table_matches_the_template():
    readme = README.read_text(encoding="utf-8")
    assert readme == readme_with_parameters(readme), (
        "the parameter table of README.md is out of date: run `make docs`"
    )


def test_the_parsed_rule_table_is_the_parse_of_rules_toml():
    assert PARSED_FILE.read_text(encoding="utf-8") == parsed_rules_json(), (
        "layers/common/prediag/triage/rules.json is out of date: run `make docs`"
    )
