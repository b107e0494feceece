"""Negation: whether a match in the normalised text is negated by the words around it.

A match is discarded when a negation cue ("no", "not", "never", "without", "n't" forms,
"stopped", "pas", "sans", "aucun", "jamais", "ni", "ne", "n'...", "arrete") appears among the
four words before it in the same clause, or when the French post-verbal "pas"/"jamais" follows
it directly ("il vomit pas", but not "il saigne pas mal", which means "quite a lot"). Clauses
end at punctuation and at "and/but/then/et/mais/puis...". Words such as "why", "if", "since",
"pourquoi", "si", "que" stop the look-back ("no idea why he is vomiting" still fires), and
"keeps on" idioms ("sans arret", "n'arrete pas de", "non stop") are not cues. Phrases that
carry their own negation ("can't breathe", "ne respire plus", "n'arrive pas a uriner") are
patterns in their own right. "No vomiting, diarrhoea or bleeding" only negates the first sign:
when unsure the rules err toward urgency.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[\w']+")
_CLAUSE_BREAK = re.compile(
    r"[.;:!?,()\[\]\n/]|\b(?:and|but|however|though|although|then|yet|whereas|et|mais|puis|"
    r"cependant|pourtant|alors|sauf|tandis)\b"
)
_NEG_WINDOW = 4
_NEG_CUES = frozenset(
    {
        "no", "not", "never", "without", "none", "nor", "neither", "non", "cannot", "cant",
        "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "hasnt", "havent",
        "hadnt", "wont", "wouldnt", "couldnt", "shouldnt", "stopped", "absence", "absent",
        "pas", "sans", "aucun", "aucune", "jamais", "ni", "ne", "n", "arrete", "cesse",
    }
)  # fmt: skip
_NEG_TERMINATORS = frozenset(
    {
        "why", "if", "whether", "how", "when", "where", "since", "after", "because", "until",
        "before", "unless", "pourquoi", "si", "s'il", "s'ils", "comment", "quand", "depuis",
        "apres", "car", "parce", "avant", "que", "qu'il", "qu'elle", "lorsque", "puisque",
    }
)  # fmt: skip
_POST_NEG = re.compile(r" (?:pas|jamais)(?! mal)\b")
# Idioms built from negation words that mean "keeps on": they must not negate what follows.
_KEEPS_ON = re.compile(
    r"\b(?:sans (?:arret|cesse|interruption|relache|discontinuer)|without (?:stopping|a break)|"
    r"non stop|never stops?|(?:n'|ne )?(?:arrete|cesse) (?:pas|plus) de|ne fait que)\b"
)


def _is_cue(token: str) -> bool:
    return token in _NEG_CUES or token.endswith("n't") or token.startswith("n'")


def _negated(norm: str, start: int, end: int) -> bool:
    """A negation cue shortly before the match in the same clause, or a French 'pas' after."""
    window = norm[max(0, start - 120) : start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(window):
        cut = m.end()
    window = _KEEPS_ON.sub(" ", window[cut:])
    for token in reversed(_TOKEN.findall(window)[-_NEG_WINDOW:]):
        if token in _NEG_TERMINATORS:
            break
        if _is_cue(token):
            return True
    return _POST_NEG.match(norm, end) is not None


def first_match(pattern: re.Pattern[str], norm: str) -> re.Match[str] | None:
    """The first match of `pattern` in the normalised text that is not negated, if any."""
    for m in pattern.finditer(norm):
        if not _negated(norm, m.start(), m.end()):
            return m
    return None
