"""Text is text: what an owner (or an admin) may type in a free-text field.

Refused everywhere, wherever it stands in the value (before any whitespace is stripped):

- the Unicode categories Cc (controls, C0 and C1: U+0000-001F, U+007F-009F) and Cf (format
  characters: bidirectional overrides and isolates, zero-width spaces and joiners, the byte
  order mark, soft hyphen...),
- Zl and Zp (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR),
- the 66 noncharacters (U+FDD0-FDEF and the last two code points of every plane, U+FFFE,
  U+FFFF ... U+10FFFE, U+10FFFF),
- lone surrogates (Cs): refused by the string type itself, before these checks.

Multi-line text (the case description) alone keeps tabs and line feeds; a carriage return is
taken as a line break (CRLF and CR become LF) so that text from any platform reads the same.

The ranges are written out (Unicode 15.1, Python 3.13's database; a unit test compares them
with `unicodedata` over every code point) so that checking a value is one regular-expression
search. The same rule is published in the OpenAPI document as each field's `pattern`, a
negated character class with `\\uXXXX` and `\\UXXXXXXXX` escapes, so the document and the
validation cannot disagree.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticCustomError

CONTROLS = ((0x0000, 0x001F), (0x007F, 0x009F))
"""Cc: the C0 controls, DEL and the C1 controls (U+0085 NEXT LINE among them)."""
FORMATS = (
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
"""Cf (Unicode 15.1): soft hyphen, Arabic and Syriac marks, zero-width space, joiners, LRM/RLM,
bidirectional embeddings, overrides and isolates, invisible operators, BOM, tags..."""
SEPARATORS = ((0x2028, 0x2028), (0x2029, 0x2029))
"""Zl and Zp."""
NONCHARACTERS = (
    (0xFDD0, 0xFDEF),
    *((plane << 16 | 0xFFFE, plane << 16 | 0xFFFF) for plane in range(17)),
)
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
MULTILINE_KEPT = ((0x09, 0x0A),)
"""Tab and line feed: what multi-line text keeps of the controls."""

FORBIDDEN_TYPE = "forbidden_character"


def _merged(ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _without(
    ranges: list[tuple[int, int]], holes: tuple[tuple[int, int], ...]
) -> list[tuple[int, int]]:
    out = []
    for start, end in ranges:
        points = [start]
        for hole_start, hole_end in holes:
            if hole_end < start or hole_start > end:
                continue
            if hole_start > points[-1]:
                out.append((points[-1], hole_start - 1))
            points.append(hole_end + 1)
        if points[-1] <= end:
            out.append((points[-1], end))
    return out


def _escape(code: int) -> str:
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _class(ranges: list[tuple[int, int]]) -> str:
    return "".join(
        _escape(start) if start == end else f"{_escape(start)}-{_escape(end)}"
        for start, end in ranges
    )


FORBIDDEN = _merged(CONTROLS + FORMATS + SEPARATORS + NONCHARACTERS)
"""Every code point a single-line text field refuses, as merged ranges."""
FORBIDDEN_MULTILINE = _without(FORBIDDEN, MULTILINE_KEPT)
"""What multi-line text refuses (after a CR has become a LF)."""

SINGLE_LINE_PATTERN = f"^[^{_class(FORBIDDEN)}]*$"
"""The OpenAPI `pattern` of single-line text (names, breeds, symptoms)."""
MULTI_LINE_PATTERN = f"^[^{_class(_without(FORBIDDEN_MULTILINE, ((0x0D, 0x0D),)))}]*$"
"""The OpenAPI `pattern` of multi-line text (the description): tab, LF and CR are allowed (a
CR is stored as a LF)."""

_SINGLE = re.compile(f"[{_class(FORBIDDEN)}]")
_MULTI = re.compile(f"[{_class(FORBIDDEN_MULTILINE)}]")


def first_forbidden(value: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """(position, character) of the first character `value` may not hold, or None."""
    found = (_MULTI if multiline else _SINGLE).search(value)
    return None if found is None else (found.start(), found.group())


def is_plain(value: str) -> bool:
    """Whether `value` is single-line text with no forbidden character."""
    return _SINGLE.search(value) is None


def _refuse(position: int, char: str) -> PydanticCustomError:
    # The code point, never the text around it (answers never repeat the owner's words).
    return PydanticCustomError(
        FORBIDDEN_TYPE,
        "Text may not contain control or format characters, line or paragraph separators, or "
        "noncharacters (U+{code} at position {position})",
        {"code": f"{ord(char):04X}", "position": position},
    )


def single_line(value: Any) -> Any:
    """Before-validator of single-line text: refuses every forbidden character."""
    if isinstance(value, str) and (found := first_forbidden(value)) is not None:
        raise _refuse(*found)
    return value


def multi_line(value: Any) -> Any:
    """Before-validator of multi-line text: CRLF and CR become LF; tabs and LF are kept."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if (found := first_forbidden(value, multiline=True)) is not None:
        raise _refuse(*found)
    return value
