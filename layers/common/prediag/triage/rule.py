"""The shape of one red-flag rule, checked when it is built so that a bad entry fails at import."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prediag.models import Locale, Sex, Species, Urgency

_CODE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Label:
    """What a flag is called for the owner and the vet, in each language the app speaks."""

    en: str
    fr: str

    def __post_init__(self) -> None:
        for locale in ("en", "fr"):
            text = getattr(self, locale)
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"label: the {locale!r} text is missing")

    def in_locale(self, locale: Locale) -> str:
        return self.fr if locale == "fr" else self.en


@dataclass(frozen=True, slots=True)
class Rule:
    """One red flag: fires when every pattern group has an un-negated match in the text.

    `patterns` is the first group (any of them may match); `also` holds further groups that
    must all match too (compound signs such as retching + distended abdomen). `unless` patterns
    veto the rule when they match un-negated. `species_levels` overrides `level` per species;
    `supersedes` names less specific rules whose flags this one replaces.
    """

    code: str
    level: Urgency
    label: Label
    patterns: tuple[str, ...]
    also: tuple[tuple[str, ...], ...] = ()
    species: frozenset[Species] | None = None
    sexes: frozenset[Sex] | None = None
    species_levels: Mapping[Species, Urgency] = field(default_factory=lambda: MappingProxyType({}))
    unless: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError(f"rule {self.code!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        found = []
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            found.append("the code must be snake_case")
        if not isinstance(self.level, Urgency) or self.level is Urgency.NON_URGENT:
            found.append("the level must be an Urgency above non_urgent")
        if not isinstance(self.label, Label):
            found.append("the label must be a Label with English and French text")
        for name, group in [("patterns", self.patterns), *(("also", g) for g in self.also)]:
            if not _is_group(group):
                found.append(f"{name} must be a non-empty tuple of non-empty strings")
        if self.unless and not _is_group(self.unless):
            found.append("unless must be a tuple of non-empty strings")
        if self.species is not None and not self.species:
            found.append("species, when given, must name at least one species")
        if self.sexes is not None and not self.sexes:
            found.append("sexes, when given, must name at least one sex")
        for species, level in self.species_levels.items():
            if not isinstance(species, Species) or not isinstance(level, Urgency):
                found.append("species_levels must map a Species to an Urgency")
            elif level is Urgency.NON_URGENT:
                found.append("no species level may be non_urgent")
        return found

    def applies_to(self, species: Species, sex: Sex) -> bool:
        if self.species is not None and species not in self.species:
            return False
        return self.sexes is None or sex in self.sexes

    def level_for(self, species: Species) -> Urgency:
        return self.species_levels.get(species, self.level)


def _is_group(group: object) -> bool:
    return isinstance(group, tuple) and bool(group) and all(isinstance(p, str) and p for p in group)
