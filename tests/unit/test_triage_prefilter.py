"""The triage matcher's prefilter: a rule's regexes are compiled only for a text that holds an
anchor of each of its pattern groups, and skipping a rule that way never changes a result."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prediag.models import Sex, Species, Urgency
from prediag.triage import RULES, Label, Rule, normalise
from prediag.triage.matcher import (
    ANCHORS_FILE,
    TABLE,
    group_sources,
    load_anchors,
    prepare,
    read,
    source_digest,
)
from prediag_tools.triage_anchors import render, required_literals

TRIAGE_TESTS = Path(__file__).with_name("test_triage.py")


def _corpus() -> list[str]:
    """Every owner text the triage tests use (positives, negations, lookalikes, steering...)."""
    tree = ast.parse(TRIAGE_TESTS.read_text(encoding="utf-8"))
    texts = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value
    }
    return sorted(texts)


CORPUS = _corpus()
WORDS = sorted({w for text in CORPUS for w in normalise(text)[0].split()})
ANIMALS = [
    (Species.DOG, Sex.MALE),
    (Species.DOG, Sex.FEMALE_SPAYED),
    (Species.CAT, Sex.MALE),
    (Species.CAT, Sex.FEMALE),
    (Species.RABBIT, Sex.UNKNOWN),
    (Species.HORSE, Sex.MALE_NEUTERED),
]
UNFILTERED = prepare(RULES, {})
"""The table without a prefilter: every applicable rule is read, as the matcher always did."""


def test_the_shipped_anchors_are_the_ones_the_rule_table_gives():
    assert ANCHORS_FILE.read_text(encoding="utf-8") == render(), (
        "layers/common/prediag/triage/anchors.json is out of date: run `make docs`"
    )


def test_every_group_of_the_shipped_table_has_a_prefilter():
    for entry, rule in zip(TABLE, RULES, strict=True):
        assert entry.rule is rule
        assert len(entry.anchors) == len(group_sources(rule)), rule.code


def test_the_corpus_is_large_enough_to_mean_something():
    assert len(CORPUS) > 250


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_a_group_that_matches_a_text_has_an_anchor_in_it(rule: Rule):
    anchors = load_anchors()
    for source in group_sources(rule):
        words = anchors[source_digest(source)]
        regex = re.compile(source)
        for text in CORPUS:
            norm = normalise(text)[0]
            if regex.search(norm):
                assert any(w in norm for w in words), (rule.code, text)


@pytest.mark.parametrize(("species", "sex"), ANIMALS)
def test_the_prefilter_never_changes_a_result(species: Species, sex: Sex):
    fired = 0
    for text in CORPUS:
        for locale in ("en", "fr"):
            result = read(TABLE, species, sex, text, pet_name="Moka", locale=locale)
            assert result == read(UNFILTERED, species, sex, text, pet_name="Moka", locale=locale)
            fired += bool(result.flags)
    assert fired > len(CORPUS) // 2  # the corpus does reach the rules


GROUPS = [(rule.code, source) for rule in RULES for source in group_sources(rule)]


@pytest.mark.parametrize(("code", "source"), GROUPS, ids=[code for code, _ in GROUPS])
def test_every_text_a_group_matches_holds_one_of_its_anchors(code: str, source: str):
    words = load_anchors()[source_digest(source)]
    regex = re.compile(source)

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(st.from_regex(regex))
    def check(text: str) -> None:
        assert any(w in text for w in words), (code, text)

    check()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), st.sampled_from(ANIMALS))
def test_the_prefilter_never_changes_the_result_of_a_text_made_of_the_corpus_words(
    words: list[str], animal: tuple[Species, Sex]
):
    text = " ".join(words)
    assert read(TABLE, *animal, text) == read(UNFILTERED, *animal, text)


def _rule(*patterns: str) -> Rule:
    return Rule(
        code="test_sign",
        level=Urgency.URGENT,
        label=Label(en="Test sign", fr="Signe de test"),
        patterns=patterns,
    )


def test_a_rule_is_compiled_only_when_a_text_holds_one_of_its_anchors():
    broken = _rule("(?:unclosed sign")  # compiling it raises: it shows when it is compiled
    (source,) = group_sources(broken)
    (entry,) = table = prepare([broken], {source_digest(source): frozenset({"unclosed"})})
    assert read(table, Species.DOG, Sex.MALE, "a sign, nothing more").flags == []
    assert not entry.may_match("a sign, nothing more")
    with pytest.raises(ValueError, match="a pattern does not compile"):
        read(table, Species.DOG, Sex.MALE, "unclosed sign")


def test_a_group_the_anchors_do_not_know_is_read_without_a_prefilter(tmp_path: Path):
    # the table changed since anchors.json was written: the group's digest is not in it
    (entry,) = prepare([_rule("a changed sign")], load_anchors())
    assert entry.anchors == ()
    assert entry.may_match("any text at all")
    assert load_anchors(tmp_path / "missing.json") == {}


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("pale gums", {"pale gums"}),
        (r"(?<!\w)pale(?!\w)", {"pale"}),  # lookarounds match no character
        ("breath(?:e|ing)?", {"breath"}),
        ("(?:no|not) (?:pee|wee)", {"no pee", "no wee", "not pee", "not wee"}),  # spelt out
        ("(?:his|her) breath", {" breath"}),  # long enough, and one substring test only
        ("(?:vomit|throw up)ing", {"vomiting", "throw uping"}),
        ("[abc]+", {"a", "b", "c"}),
        ("(?:a|b)?c", {"c"}),  # "ac" and "bc" hold "c"
        ("vomi|vomit", {"vomi"}),  # "vomit" holds "vomi": it decides nothing more
        ("(?:ab){2,3}c", {"ab"}),
        ("(?:ab)*c", {"c"}),
        (r"bl\w+ed", {"bl"}),
        ("poo+s?", {"po"}),
        ("(?>atomic)", {"atomic"}),
    ],
)
def test_required_literals_are_what_every_match_contains(pattern: str, literals: set[str]):
    assert required_literals(pattern) == literals


def test_an_alternation_too_large_to_spell_out_still_requires_one_of_its_branches():
    words = [f"{i:02d}x" for i in range(70)]
    assert required_literals(f"(?:{'|'.join(words)})[a-z]") == set(words)


@pytest.mark.parametrize(
    "pattern",
    ["x?", "[^abc]+", r"\w+", ".+", "pale|x?", "(?i)pale", "(?i:pale)", "(?:ab)*"],
)
def test_no_literal_is_required_when_a_match_can_do_without_one(pattern: str):
    assert required_literals(pattern) is None
