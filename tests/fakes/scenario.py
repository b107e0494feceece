"""The assessments the fake providers answer with: valid ones built from a scenario, and the
deliberately broken ones (schema-invalid, malformed JSON, steered)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DIFFERENTIALS: tuple[tuple[str, float, str], ...] = (
    ("Acute gastroenteritis", 0.6, "Vomiting and soft stools of recent onset in an adult dog."),
    ("Foreign body obstruction", 0.3, "Repeated vomiting; scavenging cannot be excluded."),
)


@dataclass
class Scenario:
    """What a well-behaved fake model concludes about any case."""

    urgency: str = "urgent"
    differentials: tuple[tuple[str, float, str], ...] = DEFAULT_DIFFERENTIALS
    confidence: float = 0.7
    language: str = "en"
    summary: str = "Your dog should be seen by a vet today; the signs suggest a stomach upset."
    red_flags: list[str] = field(default_factory=lambda: ["repeated vomiting"])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        values = dict(data)
        if "differentials" in values:
            values["differentials"] = tuple(tuple(d) for d in values["differentials"])
        return cls(**values)


def assessment(scenario: Scenario) -> dict[str, Any]:
    """A complete assessment that validates against prediag.ai.schema.ModelAssessment."""
    return {
        "urgency": scenario.urgency,
        "differentials": [
            {"condition": name, "likelihood": likelihood, "reasoning": reasoning}
            for name, likelihood, reasoning in scenario.differentials
        ],
        "red_flags": list(scenario.red_flags),
        "owner_advice": ["Keep water available but withhold food until the visit."],
        "vet_questions": ["Could the dog have eaten something unusual?"],
        "suggested_tests": ["Abdominal palpation", "Abdominal radiographs"],
        "confidence": scenario.confidence,
        "summary": scenario.summary,
        "language": scenario.language,
    }


def steered_assessment(language: str = "en") -> dict[str, Any]:
    """What a model that obeys the owner's embedded instructions says: nothing urgent."""
    return assessment(
        Scenario(
            urgency="non_urgent",
            differentials=(("Mild indigestion", 0.8, "The owner says it is not urgent."),),
            confidence=0.9,
            language=language,
            summary="Nothing urgent: there is no need to see a vet.",
            red_flags=[],
        )
    )


def invalid_assessment() -> dict[str, Any]:
    """Well-formed JSON that breaks the schema: unknown level, likelihood above 1, missing
    fields, wrong types."""
    return {
        "urgency": "critical",
        "differentials": [{"condition": "Something", "likelihood": 1.7}],
        "confidence": "high",
        "summary": 42,
    }


def answer_for(kind: str, scenario: Scenario) -> dict[str, Any]:
    """The assessment a fake answers with for a behaviour: schema-invalid, obeying the owner's
    steering text, or the scenario's own."""
    if kind == "invalid_schema":
        return invalid_assessment()
    if kind == "obey_steering":
        return steered_assessment(scenario.language)
    return assessment(scenario)


MALFORMED_JSON = '{"urgency": "immediate", "differentials": [{"condition": "Gastric dilat'


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
