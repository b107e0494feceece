"""The matcher: reads the owner's text against the rule table.

A rule's regexes are compiled the first time a text may match it, not at import: compiling the
whole table (about 50 kB of alternations) took about 45 ms of every cold start, and a text
holds the words of a few rules. `anchors.json` (written by `make docs`) gives, for each pattern
group, literals one of which every match contains; a rule whose groups do not all have an
anchor in the normalised text cannot match it, and is skipped without a regex. A group missing
from the file (the table changed since) has no prefilter: the rule is then always read, as
before. `triage_text` is a pure function with no I/O; `triage` reads a request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prediag.models import RedFlag, TriageResult, Urgency
from prediag.triage.folding import mask_name, normalise
from prediag.triage.negation import first_match
from prediag.triage.rule import Rule
from prediag.triage.rules import RULES, RULES_VERSION

if TYPE_CHECKING:
    from prediag.models import Locale, Onset, PreDiagnosisRequest, Sex, Species

ANCHORS_FILE = Path(__file__).with_name("anchors.json")

# A word inside a pattern's gap: never a negation or a conjunction, so "gums are not pale" and
# "vomiting and blood in stool" do not match across them. Elided French articles ("l'", "d'",
# "qu'") count as a word. Patterns write such a word as (?:\w+ ); _source substitutes this.
_NOT_NEG = (
    r"(?!(?:not|no|never|none|nor|ne|pas|jamais|ni|aucune?|sans|without|non|and|et|but|mais|or|"
    r"ou|then|puis|n'\w*|\w+n't)\b)"
)
_UNIT = rf"(?:{_NOT_NEG}[\w']+ |(?!n')[a-z]{{1,2}}')"


def _source(group: Iterable[str]) -> str:
    """One regex for a group of alternatives, bounded by word edges; gap words expanded.

    The leading word-edge test sits outside the alternation so that positions inside a word
    are rejected once, not once per alternative.
    """
    alternatives = "|".join(f"(?:{p.replace(r'(?:\w+ )', _UNIT)})" for p in group)
    return rf"(?<!\w)(?:{alternatives})(?!\w)"


def group_sources(rule: Rule) -> tuple[str, ...]:
    """The regex of each pattern group that must match for the rule to fire (`patterns`, then
    each of `also`); `unless` is not one."""
    return tuple(_source(g) for g in (rule.patterns, *rule.also))


def source_digest(source: str) -> str:
    """What anchors.json keys a group by: its regex's text, hashed."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    groups: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None


def _compile_rule(rule: Rule) -> _Compiled:
    try:
        return _Compiled(
            rule=rule,
            groups=tuple(re.compile(s) for s in group_sources(rule)),
            unless=re.compile(_source(rule.unless)) if rule.unless else None,
        )
    except re.error as exc:
        raise ValueError(f"rule {rule.code!r}: a pattern does not compile: {exc}") from exc


def build(rules: tuple[Rule, ...]) -> tuple[_Compiled, ...]:
    """Compile every rule of the table; `ValueError` naming the rule if a pattern is not a regex."""
    return tuple(_compile_rule(r) for r in rules)


class Entry:
    """A rule of the table, the anchors of its groups, and its regexes once a text needed them."""

    __slots__ = ("_compiled", "anchors", "rule")

    def __init__(self, rule: Rule, anchors: tuple[frozenset[str], ...]) -> None:
        self.rule = rule
        self.anchors = anchors
        self._compiled: _Compiled | None = None

    def may_match(self, norm: str) -> bool:
        """False only if some group cannot match `norm` (none of its anchors is in it)."""
        return all(any(word in norm for word in group) for group in self.anchors)

    def compiled(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _compile_rule(self.rule)
        return self._compiled


def load_anchors(path: Path = ANCHORS_FILE) -> dict[str, frozenset[str]]:
    """The anchors of each group by digest; none (no prefilter) if the file is missing."""
    try:
        groups = json.loads(path.read_text(encoding="utf-8"))["groups"]
    except FileNotFoundError:
        return {}
    return {digest: frozenset(words) for digest, words in groups.items()}


def prepare(rules: Iterable[Rule], anchors: Mapping[str, frozenset[str]]) -> tuple[Entry, ...]:
    """The table's entries; a group that `anchors` does not know is read without a prefilter."""
    entries = []
    for rule in rules:
        known = (anchors.get(source_digest(s)) for s in group_sources(rule))
        entries.append(Entry(rule, tuple(a for a in known if a)))
    return tuple(entries)


TABLE = prepare(RULES, load_anchors())


def triage_text(
    species: Species,
    sex: Sex,
    text: str,
    onset: Onset | None = None,
    *,
    pet_name: str | None = None,
    locale: Locale = "en",
) -> TriageResult:
    """Red flags in the owner's `text` for an animal of this species and sex.

    `onset` is accepted for context and never lowers anything (see the package docstring).
    `pet_name`, when given, is masked out of the text before matching. Labels are in `locale`.
    """
    del onset  # no current rule depends on it
    return read(TABLE, species, sex, text, pet_name=pet_name, locale=locale)


def read(
    table: Sequence[Entry],
    species: Species,
    sex: Sex,
    text: str,
    *,
    pet_name: str | None = None,
    locale: Locale = "en",
) -> TriageResult:
    """`triage_text` against the entries of `table` (the shipped table is `TABLE`)."""
    original = mask_name(text, pet_name)
    norm, index = normalise(original)
    found: dict[str, RedFlag] = {}
    superseded: set[str] = set()
    for entry in table:
        rule = entry.rule
        if not rule.applies_to(species, sex) or not entry.may_match(norm):
            continue
        compiled = entry.compiled()
        matches: list[re.Match[str]] = []
        for group in compiled.groups:
            m = first_match(group, norm)
            if m is None:
                break
            matches.append(m)
        else:
            if compiled.unless is not None and first_match(compiled.unless, norm):
                continue
            words = " + ".join(original[index[m.start()] : index[m.end() - 1] + 1] for m in matches)
            found[rule.code] = RedFlag(
                code=rule.code,
                level=rule.level_for(species),
                label=rule.label.in_locale(locale),
                matched=words,
            )
            superseded.update(rule.supersedes)
    flags = [f for code, f in found.items() if code not in superseded]
    flags.sort(key=lambda f: f.level.rank)  # stable: table order within a level
    level = flags[0].level if flags else Urgency.STANDARD
    return TriageResult(level=level, flags=flags, rules_version=RULES_VERSION)


def triage(request: PreDiagnosisRequest) -> TriageResult:
    """Red flags in the request's symptoms and description, for its pet, in the owner's language."""
    text = "\n".join([*request.symptoms, request.description])
    pet = request.pet
    return triage_text(
        pet.species,
        pet.sex,
        text,
        request.onset,
        pet_name=pet.name,
        locale=request.owner_locale,
    )
