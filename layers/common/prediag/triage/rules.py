"""The red-flag rule table: `rules.toml` beside this module, checked into typed rules at import.

Rules are drawn from the Veterinary Triage List (Ruys et al. 2012) and clinic triage guidance
(sources in docs/triage.md); each has a label in English and in French. The file holds pattern
pieces (spliced into a pattern as `{NAME}`), lists of patterns shared by several rules (spliced
into a list as `"@NAME"`), then the rules in presentation order. Anything malformed (an unknown
key, a missing label, an unknown species, level or reference, a duplicate code, a piece or list
no rule uses) raises `RuleTableError` naming the entry, so a bad table never loads.

At import the table is read from `rules.json`, the parse of `rules.toml` that `make docs` writes,
when it was made from the very same text (its SHA-256): the standard library's TOML parser is
pure Python, and importing it and parsing the file took about 9 ms of every cold start, against
under 1 ms for the JSON. Otherwise (the TOML changed since) the TOML itself is parsed. Either
way the same checks run on the same data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from prediag.models import Sex, Species, Urgency
from prediag.triage.rule import Label, Rule

RULES_FILE = Path(__file__).with_name("rules.toml")
PARSED_FILE = Path(__file__).with_name("rules.json")

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_PIECE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_TOP_KEYS = frozenset({"version", "pieces", "lists", "rule"})
_REQUIRED = ("code", "label", "level", "patterns")
_OPTIONAL = ("species_levels", "species", "sexes", "supersedes", "also", "unless")
_RULE_KEYS = frozenset(_REQUIRED + _OPTIONAL)


class RuleTableError(ValueError):
    """The rule table is malformed; the message names the entry at fault."""


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleTableError(f"{what} must be a list of strings")
    return value


def _table(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleTableError(f"{what} must be a table")
    return value


def _enum[E: (Species, Sex, Urgency)](kind: type[E], value: object, what: str) -> E:
    for member in kind:
        if member.value == value:
            return member
    allowed = ", ".join(m.value for m in kind)
    raise RuleTableError(f"{what}: {value!r} is not one of {allowed}")


class _References:
    """The named pieces and lists, and which of them the rules have used."""

    def __init__(self, pieces: dict[str, Any], lists: dict[str, Any]) -> None:
        self.pieces: dict[str, str] = {}
        self.lists: dict[str, tuple[str, ...]] = {}
        self.used: set[str] = set()
        for name, piece in pieces.items():
            self._check_name(name, "pieces")
            if not isinstance(piece, str) or not piece:
                raise RuleTableError(f"pieces.{name} must be a non-empty string")
            self.pieces[name] = piece
        for name, items in lists.items():
            self._check_name(name, "lists")
            self.lists[name] = self.group(items, f"lists.{name}")

    def _check_name(self, name: str, section: str) -> None:
        if not _NAME.fullmatch(name) or name in self.pieces or name in self.lists:
            raise RuleTableError(f"{section}.{name}: names are UPPER_CASE and unique")

    def pattern(self, text: str, what: str) -> str:
        def splice(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.pieces:
                raise RuleTableError(f"{what}: unknown piece {{{name}}} in {text!r}")
            self.used.add(name)
            return self.pieces[name]

        return _PIECE.sub(splice, text)

    def group(self, items: object, what: str) -> tuple[str, ...]:
        out: list[str] = []
        for item in _strings(items, what):
            if not item.startswith("@"):
                out.append(self.pattern(item, what))
            elif item[1:] in self.lists:
                self.used.add(item[1:])
                out.extend(self.lists[item[1:]])
            else:
                raise RuleTableError(f"{what}: unknown list {item!r} (lists come before use)")
        return tuple(out)

    def unused(self) -> list[str]:
        return sorted((self.pieces.keys() | self.lists.keys()) - self.used)


def _enum_set[E: (Species, Sex)](kind: type[E], value: object, what: str) -> frozenset[E] | None:
    if value is None:
        return None
    return frozenset(_enum(kind, v, what) for v in _strings(value, what))


def _levels(per_species: dict[str, Any], what: str) -> Mapping[Species, Urgency]:
    levels = {_enum(Species, k, what): _enum(Urgency, v, what) for k, v in per_species.items()}
    return MappingProxyType(levels)


def _rule(entry: dict[str, Any], refs: _References, what: str) -> Rule:
    unknown = sorted(entry.keys() - _RULE_KEYS)
    if unknown:
        raise RuleTableError(f"{what}: unknown keys {unknown}")
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise RuleTableError(f"{what}: missing keys {missing}")
    label = _table(entry["label"], f"{what}: label")
    if label.keys() != {"en", "fr"}:
        raise RuleTableError(f"{what}: label needs exactly en and fr, has {sorted(label)}")
    per_species = _table(entry.get("species_levels", {}), f"{what}: species_levels")
    also = entry.get("also", [])
    if not isinstance(also, list):
        raise RuleTableError(f"{what}: also must be a list of lists of strings")
    try:
        return Rule(
            code=entry["code"],
            level=_enum(Urgency, entry["level"], f"{what}: level"),
            label=Label(en=label["en"], fr=label["fr"]),
            patterns=refs.group(entry["patterns"], f"{what}: patterns"),
            also=tuple(refs.group(group, f"{what}: also") for group in also),
            species=_enum_set(Species, entry.get("species"), f"{what}: species"),
            sexes=_enum_set(Sex, entry.get("sexes"), f"{what}: sexes"),
            species_levels=_levels(per_species, f"{what}: species_levels"),
            unless=refs.group(entry["unless"], f"{what}: unless") if "unless" in entry else (),
            supersedes=tuple(_strings(entry.get("supersedes", []), f"{what}: supersedes")),
        )
    except RuleTableError:
        raise
    except ValueError as exc:  # the Rule's or the Label's own checks
        raise RuleTableError(f"{what}: {exc}") from None


def parse_table(data: Mapping[str, Any]) -> tuple[str, tuple[Rule, ...]]:
    """The rules version and the typed rules of a parsed table; `RuleTableError` if malformed."""
    unknown = sorted(data.keys() - _TOP_KEYS)
    if unknown:
        raise RuleTableError(f"unknown top-level keys {unknown}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise RuleTableError("version must be a non-empty string")
    refs = _References(
        _table(data.get("pieces", {}), "pieces"), _table(data.get("lists", {}), "lists")
    )
    entries = data.get("rule")
    if not isinstance(entries, list) or not entries:
        raise RuleTableError("the table has no [[rule]] entries")
    rules: list[Rule] = []
    for number, entry in enumerate(entries, start=1):
        code = entry.get("code") if isinstance(entry, dict) else None
        what = f"rule {number} ({code})" if code else f"rule {number}"
        rules.append(_rule(_table(entry, what), refs, what))
    _check_links(rules)
    if refs.unused():
        raise RuleTableError(f"pieces or lists no rule uses: {refs.unused()}")
    return version, tuple(rules)


def _check_links(rules: list[Rule]) -> None:
    codes = [r.code for r in rules]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise RuleTableError(f"duplicate rule codes: {duplicates}")
    for r in rules:
        unknown = sorted(set(r.supersedes) - set(codes))
        if unknown:
            raise RuleTableError(f"{r.code} supersedes unknown rules: {unknown}")


def load_table(text: str) -> tuple[str, tuple[Rule, ...]]:
    """Parse the TOML text of a rule table; see `parse_table`."""
    import tomllib  # only when rules.json does not hold this text's parse: see the docstring

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleTableError(f"not valid TOML: {exc}") from None
    return parse_table(data)


def text_digest(text: str) -> str:
    """The SHA-256 of a table's TOML text: rules.json is used only for the text it names."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_shipped(text: str, parsed: Path = PARSED_FILE) -> tuple[str, tuple[Rule, ...]]:
    """The table of `text`, from its parse in `parsed` when that was made from this very text,
    else from the TOML; see `parse_table`."""
    try:
        cached = json.loads(parsed.read_text(encoding="utf-8"))
    except FileNotFoundError:
        cached = {}
    if cached.get("toml_sha256") == text_digest(text):
        return parse_table(cached["table"])
    return load_table(text)


RULES_VERSION, RULES = load_shipped(RULES_FILE.read_text(encoding="utf-8"))
