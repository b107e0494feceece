"""Text is text: every free-text field refuses controls (Cc), format characters (Cf), line and
paragraph separators (Zl, Zp) and noncharacters, wherever they stand; the description alone
keeps tabs and line feeds. The published OpenAPI patterns say exactly the same."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from prediag import text
from prediag.clinics import NewClinic
from prediag.models import PreDiagnosisRequest
from prediag_tools.openapi import SPEC_PATH

EVENTS = Path(__file__).parents[2] / "events"

# (code point, what it is): every category the rule refuses, and the characters seen in probes
REFUSED = [
    (0x0000, "NUL (Cc)"),
    (0x0009, "TAB (Cc)"),
    (0x000A, "LINE FEED (Cc)"),
    (0x000D, "CARRIAGE RETURN (Cc)"),
    (0x001B, "ESCAPE (Cc)"),
    (0x007F, "DELETE (Cc)"),
    (0x0085, "NEXT LINE, C1 (Cc)"),
    (0x009B, "CSI, C1 (Cc)"),
    (0x00AD, "SOFT HYPHEN (Cf)"),
    (0x061C, "ARABIC LETTER MARK (Cf)"),
    (0x180E, "MONGOLIAN VOWEL SEPARATOR (Cf)"),
    (0x200B, "ZERO WIDTH SPACE (Cf)"),
    (0x200C, "ZERO WIDTH NON-JOINER (Cf)"),
    (0x200D, "ZERO WIDTH JOINER (Cf)"),
    (0x200E, "LEFT-TO-RIGHT MARK (Cf)"),
    (0x202A, "LEFT-TO-RIGHT EMBEDDING (Cf)"),
    (0x202E, "RIGHT-TO-LEFT OVERRIDE (Cf)"),
    (0x2066, "LEFT-TO-RIGHT ISOLATE (Cf)"),
    (0x2060, "WORD JOINER (Cf)"),
    (0xFEFF, "BYTE ORDER MARK (Cf)"),
    (0xFFF9, "INTERLINEAR ANNOTATION ANCHOR (Cf)"),
    (0x110BD, "KAITHI NUMBER SIGN (Cf, astral)"),
    (0x1D173, "MUSICAL SYMBOL BEGIN BEAM (Cf, astral)"),
    (0xE0001, "LANGUAGE TAG (Cf)"),
    (0xE007F, "CANCEL TAG (Cf)"),
    (0x2028, "LINE SEPARATOR (Zl)"),
    (0x2029, "PARAGRAPH SEPARATOR (Zp)"),
    (0xFDD0, "noncharacter"),
    (0xFDEF, "noncharacter"),
    (0xFFFE, "noncharacter"),
    (0xFFFF, "noncharacter"),
    (0x1FFFE, "noncharacter"),
    (0x1FFFF, "noncharacter"),
    (0x10FFFE, "noncharacter"),
    (0x10FFFF, "noncharacter"),
]
KEPT_IN_DESCRIPTION = {0x0009, 0x000A, 0x000D}
ACCEPTED = [
    "Labrador",
    "Bichon frisé",
    "Caniche nain 🐩",
    "Shiba 柴犬",
    "Moka\u00a0II",
    "Lab-Retriever",
]

# (wire path of the field, single line?)
FIELDS = [
    (("pet", "name"), True),
    (("pet", "breed"), True),
    (("symptoms", 0), True),
    (("description",), False),
]
FIELD_IDS = ["pet.name", "pet.breed", "symptoms", "description"]


def _request(path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    data: Any = json.loads((EVENTS / "request-normal.json").read_text())
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def _placed(char: str) -> list[str]:
    """The character at the start, in the middle and at the end (where stripping acts)."""
    return [f"{char}Labrador", f"Lab{char}rador", f"Labrador{char}", f"  Labrador {char}"]


def _refusal(data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        PreDiagnosisRequest.model_validate(data)
    except ValidationError as exc:
        return exc.errors(include_url=False)[0]
    return None


# ---------------------------------------------------------------------- the rule itself
def test_the_written_ranges_are_exactly_the_refused_categories_and_the_noncharacters():
    single = re.compile(f"[{text._class(text.FORBIDDEN)}]")
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:  # lone surrogates: refused by the string type
            continue
        char = chr(code)
        expected = unicodedata.category(char) in text.REFUSED_CATEGORIES or (
            0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
        )
        assert bool(single.match(char)) is expected, f"U+{code:04X}"


def test_there_are_66_noncharacters():
    assert sum(end - start + 1 for start, end in text.NONCHARACTERS) == 66


# ---------------------------------------------------------------------- every field, every class
# every field with every refused character, but the tabs and line breaks the description keeps
FIELD_CHARACTERS = [
    pytest.param(path, code, what, id=f"{field_id}-U+{code:04X}")
    for (path, single_line), field_id in zip(FIELDS, FIELD_IDS, strict=True)
    for code, what in REFUSED
    if single_line or code not in KEPT_IN_DESCRIPTION
]


@pytest.mark.parametrize(("path", "code", "what"), FIELD_CHARACTERS)
def test_every_text_field_refuses_the_character_wherever_it_stands(path, code, what):
    for value in _placed(chr(code)):
        refused = _refusal(_request(path, value))
        assert refused is not None, (what, value)
        assert refused["loc"] == path
        assert refused["type"] == text.FORBIDDEN_TYPE
        assert f"U+{code:04X}" in refused["msg"]
        assert "Labrador" not in refused["msg"]  # never the owner's words


@pytest.mark.parametrize(("path", "single_line"), FIELDS, ids=FIELD_IDS)
@pytest.mark.parametrize("value", ACCEPTED)
def test_letters_marks_emoji_and_spaces_are_text(path, single_line, value):
    assert _refusal(_request(path, value)) is None


def test_the_description_keeps_tabs_and_line_feeds_and_reads_a_cr_as_a_line_feed():
    written = "Vomited twice.\r\nNo blood.\rStill drinking.\n\tAte grass."
    request = PreDiagnosisRequest.model_validate(_request(("description",), written))
    assert request.description == "Vomited twice.\nNo blood.\nStill drinking.\n\tAte grass."


def test_a_clinic_name_is_single_line_text_too():
    with pytest.raises(ValidationError) as info:
        NewClinic(clinic_id="clinic-1", name="Clinique\u2028du Parc")
    assert info.value.errors()[0]["type"] == text.FORBIDDEN_TYPE
    assert NewClinic(clinic_id="clinic-1", name="Clinique du Parc").name == "Clinique du Parc"


# ---------------------------------------------------------------------- the published contract
@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec["components"]["schemas"]


def _pattern(schema: dict[str, Any]) -> str:
    options = schema.get("anyOf", [schema])
    return next(o["pattern"] for o in options if o.get("type") == "string")


def test_the_openapi_document_publishes_the_same_rule_for_every_text_field(schemas):
    pet = schemas["Pet"]["properties"]
    request = schemas["PreDiagnosisRequest"]["properties"]
    assert _pattern(pet["name"]) == text.SINGLE_LINE_PATTERN
    assert _pattern(pet["breed"]) == text.SINGLE_LINE_PATTERN
    assert request["symptoms"]["items"]["pattern"] == text.SINGLE_LINE_PATTERN
    assert request["description"]["pattern"] == text.MULTI_LINE_PATTERN
    assert schemas["NewClinic"]["properties"]["name"]["pattern"] == text.SINGLE_LINE_PATTERN


@pytest.mark.parametrize(("code", "what"), REFUSED, ids=[f"U+{c:04X}" for c, _ in REFUSED])
def test_a_value_the_published_pattern_refuses_is_exactly_a_value_the_api_refuses(code, what):
    value = f"Lab{chr(code)}rador"
    single = re.fullmatch(text.SINGLE_LINE_PATTERN, value) is not None
    multi = re.fullmatch(text.MULTI_LINE_PATTERN, value) is not None
    assert single is (_refusal(_request(("pet", "breed"), value)) is None)
    assert multi is (_refusal(_request(("description",), value)) is None)
