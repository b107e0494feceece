"""The AI ensemble: three providers in parallel, one validated synthesis.

`import prediag.ai` is cheap: the provider SDKs (openai, anthropic) are imported only when a
provider is first called.
"""

from prediag.ai.ensemble import active_providers, analyze_case, preload_providers
from prediag.ai.errors import PermanentAnalysisError, RetryableAnalysisError
from prediag.ai.prompt import PROMPT_VERSION
from prediag.ai.schema import ModelAssessment, ModelDifferential
from prediag.ai.settings import AiSettings
from prediag.ai.triage_only import triage_only_analysis

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
