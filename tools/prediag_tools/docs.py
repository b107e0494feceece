"""Documents generated from code, so they cannot drift: `python -m prediag_tools.docs`."""

from __future__ import annotations

import sys
from pathlib import Path

from prediag.triage import RULES, RULES_VERSION

ROOT = Path(__file__).resolve().parents[2]
TRIAGE_DOC = ROOT / "docs" / "triage.md"

_HEADER = f"""# Red-flag triage rules

The deterministic safety floor of every pre-diagnosis (`layers/common/prediag/triage.py`, rules
version `{RULES_VERSION}`). The AI synthesis may rate a case more urgent than these rules, never
less; the rules also route a case to the urgent lane at submit time (immediate and very urgent).
Owner text in French or English is matched after folding accents and case; simple negations
("no vomiting", "pas de vomissement") cancel a sign; when unsure the rules err toward urgency.
When nothing matches the level is `standard`, never `non_urgent`.

## Scale: Veterinary Triage List (VTL)

Ruys et al. 2012, J Vet Emerg Crit Care 22(3):303-312, doi 10.1111/j.1476-4431.2012.00736.x.

| level | colour | seen within |
|---|---|---|
| immediate | red | 0 min |
| very_urgent | orange | 15 min |
| urgent | yellow | 30-60 min |
| standard | green | 120 min |
| non_urgent | blue | 240 min |

## Rules

| code | sign | level | applies to |
|---|---|---|---|
"""

_FOOTER = """
## Sources

The VTL paper above; clinic triage pages (VCA Canada Central Victoria triage, Pet Emergency
Canada); Clinician's Brief "top 5 clinical situations that can't wait"; RSPCA knowledge base on
lilies; Merck Veterinary Manual on grape, raisin and tamarind toxicosis; FDA CVM figures on
theobromine.

This page is generated from the rules: `make docs` rewrites it, and a test fails when it is out
of date.
"""


def triage_markdown() -> str:
    rows = []
    for rule in RULES:
        scope = []
        if rule.species:
            scope.append(", ".join(sorted(s.value for s in rule.species)))
        if rule.sexes:
            scope.append("sex: " + ", ".join(sorted(s.value for s in rule.sexes)))
        level = rule.level.value
        if rule.species_levels:
            per = "; ".join(f"{k.value}: {v.value}" for k, v in rule.species_levels.items())
            level += f" ({per})"
        applies = " / ".join(scope) or "all species"
        rows.append(f"| `{rule.code}` | {rule.label} | {level} | {applies} |")
    return _HEADER + "\n".join(rows) + "\n" + _FOOTER


def main() -> int:
    TRIAGE_DOC.write_text(triage_markdown(), encoding="utf-8")
    print(f"wrote {TRIAGE_DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
