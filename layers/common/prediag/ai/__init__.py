"""The AI ensemble: three providers in parallel, one validated synthesis.

`import prediag.ai` is cheap: the names below are loaded from their modules when first used
(PEP 562), so importing one submodule (the settings every function reads, `prediag.ai.settings`)
does not load the ensemble, the providers and the synthesis; and the provider SDKs (openai,
anthropic) are imported only when a provider is first called or preloaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prediag.ai.ensemble import active_providers, analyze_case, preload_providers
    from prediag.ai.errors import PermanentAnalysisError, RetryableAnalysisError
    from prediag.ai.prompt import PROMPT_VERSION
    from prediag.ai.schema import ModelAssessment, ModelDifferential
    from prediag.ai.settings import AiSettings
    from prediag.ai.triage_only import triage_only_analysis

_HOME = {
    "PROMPT_VERSION": "prediag.ai.prompt",
    "AiSettings": "prediag.ai.settings",
    "ModelAssessment": "prediag.ai.schema",
    "ModelDifferential": "prediag.ai.schema",
    "PermanentAnalysisError": "prediag.ai.errors",
    "RetryableAnalysisError": "prediag.ai.errors",
    "active_providers": "prediag.ai.ensemble",
    "analyze_case": "prediag.ai.ensemble",
    "preload_providers": "prediag.ai.ensemble",
    "triage_only_analysis": "prediag.ai.triage_only",
}
"""Each public name and the module that defines it."""

__all__ = [
    "PROMPT_VERSION",
    "AiSettings",
    "ModelAssessment",
    "ModelDifferential",
    "PermanentAnalysisError",
    "RetryableAnalysisError",
    "active_providers",
    "analyze_case",
    "preload_providers",
    "triage_only_analysis",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
