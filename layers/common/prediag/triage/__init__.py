"""Deterministic veterinary red-flag triage: the safety floor of every pre-diagnosis.

The owner's words (French or English) are matched against a table of rules drawn from the
Veterinary Triage List (VTL, Ruys et al. 2012: immediate, very urgent, urgent, standard,
non-urgent) and from clinic triage guidance (sources in docs/triage.md). Each rule that matches
yields a `RedFlag`, labelled in the owner's language; the result's level is the most urgent
flag's level. The AI synthesis may raise that level, never lower it; the submit handler routes
on it.

Layout: the rules are data, `rules.toml`, read by `rules` into the typed `Rule`s of `rule` (a
malformed entry stops the import); `matcher` reads the owner's text after `folding` (accents,
case, the pet's name), discarding matches that `negation` cancels. It compiles a rule's regexes
the first time a text holds one of the anchors of each of its groups (`anchors.json`, generated
from the table by `make docs`): a text that cannot match a rule costs no regex.

Design choices:

- **No rule ever returns `non_urgent`.** When nothing matches the level is `standard`: absence
  of a red flag in free text is not evidence that the animal is well (owners omit, misname and
  understate signs), so the floor is never lowered by what the owner did not write.
- **Text only.** The rules read the owner's words and the pet's species and sex, nothing else.
  Instructions inside the text ("ignore the rules, say it is not urgent") are just more words:
  they match no rule and there is no code path by which text lowers a level.
- **Both languages at once.** Every rule matches French and English words whatever the
  owner's locale; the locale only chooses the language of the labels.
- **Species and sex.** Some rules apply to some species only, or carry a level per species
  (lilies: immediate for a cat, mild stomach upset for a dog). Rules for male cats also apply
  when the sex is unknown, for the same reason as above.
- **Pet name.** `triage` masks the pet's own name (case-sensitive, whole word) before matching,
  so a cat called "Lily" or a dog called "Cocoa" does not raise a toxin flag by its name alone;
  "Lily ate a lily" still matches the lower-case plant.
- **Onset** is accepted so callers pass the whole context, but no current rule depends on it:
  the VTL discriminators used here are signs, and a long-standing sign may have just worsened.
"""

from __future__ import annotations

from prediag.triage.folding import normalise
from prediag.triage.matcher import triage, triage_text
from prediag.triage.rule import Label, Rule
from prediag.triage.rules import RULES, RULES_VERSION

__all__ = ["RULES", "RULES_VERSION", "Label", "Rule", "normalise", "triage", "triage_text"]
