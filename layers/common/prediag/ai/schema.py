"""The structured answer every provider must return, and its JSON schema.

One pydantic model is the contract for all providers: OpenAI receives it as a strict
`response_format`, Anthropic and Bedrock as the input schema of a forced tool. A provider's
answer is used only once it validates against this model.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from prediag.models import Locale, Urgency

TOOL_NAME = "record_assessment"
TOOL_DESCRIPTION = (
    "Record the structured veterinary pre-triage assessment of the case. "
    "Always call this tool exactly once with the complete assessment."
)


def _clip(limit: int) -> BeforeValidator:
    """Strip and cut an over-long string instead of rejecting the whole answer."""

    def clip(value: object) -> object:
        return value.strip()[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


Line = Annotated[str, _clip(300), Field(min_length=1)]
Paragraph = Annotated[str, _clip(1200), Field(min_length=1)]


class ModelDifferential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Annotated[str, _clip(120), Field(min_length=1)] = Field(
        description="Name of the condition, in the standard veterinary term"
    )
    likelihood: float = Field(ge=0, le=1, description="Probability between 0 and 1")
    reasoning: Paragraph = Field(description="Which facts of the case support or weaken it")


class ModelAssessment(BaseModel):
    """A single provider's assessment of one case."""

    model_config = ConfigDict(extra="forbid")

    urgency: Urgency = Field(description="Veterinary Triage List level")
    differentials: list[ModelDifferential] = Field(
        min_length=1, max_length=6, description="Differential diagnoses, most likely first"
    )
    red_flags: list[Line] = Field(
        max_length=10, description="Warning signs present in the report (empty if none)"
    )
    owner_advice: list[Line] = Field(
        min_length=1, max_length=6, description="What the owner should do now, in order"
    )
    vet_questions: list[Line] = Field(
        max_length=8, description="Questions the vet should ask the owner"
    )
    suggested_tests: list[Line] = Field(
        max_length=8, description="Examinations or tests the vet may consider"
    )
    confidence: float = Field(ge=0, le=1, description="Confidence in this assessment, 0 to 1")
    summary: Paragraph = Field(description="Two or three sentences for the owner")
    language: Locale = Field(description="Language of the free-text fields: 'en' or 'fr'")


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            merged = {k: v for k, v in node.items() if k != "$ref"}
            return {
                **_inline_refs(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs),
                **_inline_refs(merged, defs),
            }
        return {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$defs", "title")}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


@cache
def _tool_schema() -> dict[str, Any]:
    schema = ModelAssessment.model_json_schema()
    return dict(_inline_refs(schema, schema.get("$defs", {})))


def tool_input_schema() -> dict[str, Any]:
    """The JSON schema of ModelAssessment with references inlined, for tool definitions
    (Anthropic `input_schema`, Bedrock `toolSpec.inputSchema.json`)."""
    return copy.deepcopy(_tool_schema())
