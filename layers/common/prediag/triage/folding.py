"""Text folding for matching, with a map from each folded character back to the owner's text.

Accents are stripped (NFKD, combining marks dropped), case is folded, ligatures (oe, ae) are
expanded, typographic apostrophes become "'", hyphens, dashes and underscores become spaces and
runs of spaces collapse. Patterns are written against that form and bounded by word edges, so
"bloat" does not fire inside "bloated" (which is matched on purpose, as a distended-abdomen
sign) and "grape" does not fire inside "grapefruit". The index map lets a flag quote the
owner's own spelling. The pet's own name can be masked out first, offsets kept intact.
"""

from __future__ import annotations

import re
import unicodedata

_SPECIAL = {
    "\u2019": "'",
    "\u2018": "'",
    "\u02bc": "'",
    "\u00b4": "'",
    "`": "'",
    "-": " ",
    "\u2010": " ",
    "\u2011": " ",
    "\u2012": " ",
    "\u2013": " ",
    "\u2014": " ",
    "_": " ",
    "\u0153": "oe",
    "\u00e6": "ae",
    "\u00f8": "o",
    "\u0142": "l",
}
_FOLD_CACHE: dict[str, str] = {}


def _fold(char: str) -> str:
    cached = _FOLD_CACHE.get(char)
    if cached is not None:
        return cached
    if char in "\n\r\v\f\u2028\u2029\x85":
        out = "\n"
    elif char.isspace():
        out = " "
    else:
        folded = char.casefold()
        out = "".join(_SPECIAL.get(c, c) for c in folded)
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
    if len(_FOLD_CACHE) < 4096:
        _FOLD_CACHE[char] = out
    return out


def normalise(text: str) -> tuple[str, list[int]]:
    """Fold `text` for matching; also return, per output character, its index in `text`."""
    out: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        for c in _fold(char):
            if c in " \n" and (not out or out[-1] in " \n"):
                if c == "\n" and out and out[-1] == " ":
                    out[-1] = "\n"
                continue
            out.append(c)
            index.append(i)
    return "".join(out), index


def mask_name(text: str, name: str | None) -> str:
    """Blank out the pet's own name (case-sensitive, whole word), keeping offsets intact."""
    if not name or len(name.strip()) < 2:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)")
    return pattern.sub(lambda m: " " * len(m.group()), text)
