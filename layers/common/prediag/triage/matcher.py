"""The matcher: compiles the rule table once at import and reads the owner's text against it.

`triage_text` is a pure function with no I/O; `triage` reads a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prediag.models import RedFlag, TriageResult, Urgency
from prediag.triage.folding import mask_name, normalise
from prediag.triage.negation import first_match
from prediag.triage.rule import Rule
from prediag.triage.rules import RULES, RULES_VERSION

if TYPE_CHECKING:
    from prediag.models import Locale, Onset, PreDiagnosisRequest, Sex, Species

# A word inside a pattern's gap: never a negation or a conjunction, so "gums are not pale" and
# "vomiting and blood in stool" do not match across them. Elided French articles ("l'", "d'",
# "qu'") count as a word. Patterns write such a word as (?:\w+ ); _compile substitutes this.
_NOT_NEG = (
    r"(?!(?:not|no|never|none|nor|ne|pas|jamais|ni|aucune?|sans|without|non|and|et|but|mais|or|"
    r"ou|then|puis|n'\w*|\w+n't)\b)"
)
_UNIT = rf"(?:{_NOT_NEG}[\w']+ |(?!n')[a-z]{{1,2}}')"


def _compile(group: Iterable[str]) -> re.Pattern[str]:
    """One regex for a group of alternatives, bounded by word edges; gap words expanded.

    The leading word-edge test sits outside the alternation so that positions inside a word
    are rejected once, not once per alternative.
    """
    alternatives = "|".join(f"(?:{p.replace(r'(?:\w+ )', _UNIT)})" for p in group)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    groups: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None


def _compile_rule(rule: Rule) -> _Compiled:
    try:
        return _Compiled(
            rule=rule,
            groups=tuple(_compile(g) for g in (rule.patterns, *rule.also)),
            unless=_compile(rule.unless) if rule.unless else None,
        )
    except re.error as exc:
        raise ValueError(f"rule {rule.code!r}: a pattern does not compile: {exc}") from exc


def build(rules: tuple[Rule, ...]) -> tuple[_Compiled, ...]:
    """Compile every rule of the table; `ValueError` naming the rule if a pattern is not a regex."""
    return tuple(_compile_rule(r) for r in rules)


_COMPILED = build(RULES)


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
    original = mask_name(text, pet_name)
    norm, index = normalise(original)
    found: dict[str, RedFlag] = {}
    superseded: set[str] = set()
    for compiled in _COMPILED:
        rule = compiled.rule
        if not rule.applies_to(species, sex):
            continue
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
