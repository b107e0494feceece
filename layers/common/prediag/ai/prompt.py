"""The versioned system prompt and the case message sent to every provider.

Everything the owner wrote (breed, symptoms, description) travels as delimited data with `&`,
`<` and `>` escaped, so no owner text can close a delimiter and pose as instructions.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from prediag.models import PreDiagnosisRequest, TriageResult

PROMPT_VERSION = "system_v1"
_PROMPT_FILE = Path(__file__).parent / "prompts" / f"{PROMPT_VERSION}.md"

OWNER_REPORT_TAG = "owner_report"
CASE_DATA_TAG = "case_data"


@cache
def system_prompt() -> str:
    return _PROMPT_FILE.read_text(encoding="utf-8").strip()


def escape_data(text: str) -> str:
    """Owner text as inert data: markup characters escaped, so `</owner_report>` in the text
    arrives as `&lt;/owner_report&gt;`."""
    return html.escape(text, quote=False)


def case_message(request: PreDiagnosisRequest, triage: TriageResult) -> str:
    """The user message: the structured case, the deterministic red flags and the owner's own
    words, each in its own delimited block."""
    pet = request.pet
    lines = [
        "Assess this case and return the assessment.",
        "",
        f"<{CASE_DATA_TAG}>",
        f"species: {pet.species.value}",
        f"breed: {escape_data(pet.breed)}",
        f"age_years: {pet.age_years:g}",
        f"weight_kg: {pet.weight_kg:g}",
        f"sex: {pet.sex.value}",
        f"onset: {request.onset.value}",
        f"owner_locale: {request.owner_locale}",
        "symptoms:",
        *(f"- {escape_data(symptom)}" for symptom in request.symptoms),
        f"</{CASE_DATA_TAG}>",
        "",
    ]
    if triage.flags:
        lines.append(
            f"Red flags matched by the clinic's rules (urgency floor: {triage.level.value}):"
        )
        lines.extend(
            f"- {flag.code} ({flag.level.value}): {escape_data(flag.label)}"
            f' - owner wrote "{escape_data(flag.matched)}"'
            for flag in triage.flags
        )
    else:
        lines.append("Red flags matched by the clinic's rules: none.")
    lines += [
        "",
        f"<{OWNER_REPORT_TAG}>",
        escape_data(request.description),
        f"</{OWNER_REPORT_TAG}>",
    ]
    return "\n".join(lines)
