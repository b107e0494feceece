"""The ensemble: every provider that has credentials, in parallel threads, each with a deadline
inside the function's remaining time; then one validated synthesis.

Degradation: at least one answer gives a complete Analysis, marked degraded with the missing
providers named. No answer raises RetryableAnalysisError when any failure may pass on another
attempt, PermanentAnalysisError when every failure would repeat. No provider configured at all
gives the triage-only Analysis.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from traceback import format_exception

from aws_lambda_powertools import Logger

from prediag.ai.deadline import Deadline, deadline_scope
from prediag.ai.errors import PermanentAnalysisError, RetryableAnalysisError
from prediag.ai.prompt import PROMPT_VERSION, case_message, system_prompt
from prediag.ai.providers import ProviderFailure, create_provider, preload
from prediag.ai.redact import Redactor
from prediag.ai.secrets import Credential, resolve_credentials
from prediag.ai.settings import AiSettings, ProviderName
from prediag.ai.synthesis import ProviderResult, synthesise
from prediag.ai.triage_only import triage_only_analysis
from prediag.models import Analysis, PreDiagnosisRequest, ProviderOutcome, TriageResult

logger = Logger(child=True)

# Time given to a provider's thread after its own deadline to report before it is abandoned.
# The SDK timeouts are clipped to the deadline, so a thread normally reports well within it.
ABANDON_GRACE_S = 0.5
DEFAULT_METRICS_NAMESPACE = "Prediag"


def active_providers(settings: AiSettings | None = None) -> list[str]:
    """Names of the enabled providers that have credentials (or whose credential lookup failed
    for a reason that may pass, so they count as configured)."""
    settings = settings or AiSettings.from_env()
    return [
        name
        for name, credential in resolve_credentials(settings).items()
        if credential.state != "absent"
    ]


def preload_providers(settings: AiSettings | None = None) -> None:
    """Import the SDKs of the enabled providers now, e.g. at a Lambda's module level, so the
    first analysis does not pay for them."""
    preload((settings or AiSettings.from_env()).providers)


def analyze_case(
    request: PreDiagnosisRequest,
    triage: TriageResult,
    *,
    remaining_ms: int,
    settings: AiSettings | None = None,
) -> Analysis:
    """The validated pre-diagnosis of one case.

    `remaining_ms` is the function's remaining time when called; every provider must answer
    before it, less the settings' safety margin (and within its own timeout).
    Raises RetryableAnalysisError or PermanentAnalysisError when no provider answered; its
    `outcomes` hold one ProviderOutcome per enabled provider (kind, status_code, error_code,
    retries, and a short scrubbed message), and its message names each failure's cause.
    Every provider failure is logged once, at WARNING, with those fields.
    """
    started = time.monotonic()
    settings = settings or AiSettings.from_env()
    credentials = resolve_credentials(settings)
    runnable = {n: c for n, c in credentials.items() if c.state == "found"}
    if not runnable and all(c.state == "absent" for c in credentials.values()):
        logger.info("no AI provider configured: triage-only analysis")
        return triage_only_analysis(request, triage)

    budget_s = (remaining_ms - settings.safety_margin_ms) / 1000 - (time.monotonic() - started)
    system, user = system_prompt(), case_message(request, triage)
    # What a failure says is scrubbed of the keys in use and of the case text sent.
    redact = Redactor(secrets=[c.api_key for c in credentials.values()], sent_texts=[user])
    results = _run_providers(system, user, runnable, settings, budget_s, redact)
    ordered = [
        results.get(name) or _unavailable(name, credential, settings, redact)
        for name, credential in credentials.items()
    ]
    _emit_metrics([r for r in ordered if r.attempted], settings)

    answered = [r for r in ordered if r.answered]
    failures = [r for r in ordered if r.attempted and not r.answered]
    for failure in failures:
        _log_failure(failure)
    log = {
        "providers": {r.name: _cause(r.outcome) for r in ordered},
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }
    if not answered:
        summary = "; ".join(f"{r.name}: {_cause(r.outcome)}" for r in failures)
        outcomes = [r.outcome for r in ordered]
        if any(r.retryable for r in failures):
            logger.warning("no AI provider answered; retryable", extra=log)
            raise RetryableAnalysisError(f"no AI provider answered ({summary})", outcomes)
        logger.error("no AI provider answered; permanent", extra=log)
        raise PermanentAnalysisError(f"every AI provider failed permanently ({summary})", outcomes)

    analysis = synthesise(
        request,
        triage,
        ordered,
        solo_differential_likelihood=settings.solo_differential_likelihood,
        prompt_version=PROMPT_VERSION,
    )
    logger.info(
        "ensemble analysis",
        extra={**log, "urgency": analysis.urgency.value, "degraded": analysis.degraded},
    )
    return analysis


def _run_providers(
    system: str,
    user: str,
    runnable: dict[ProviderName, Credential],
    settings: AiSettings,
    budget_s: float,
    redact: Redactor,
) -> dict[str, ProviderResult]:
    if not runnable:
        return {}
    deadlines = {
        name: Deadline.after(
            min(settings.timeout_for(name), budget_s), min_attempt_s=settings.min_attempt_s
        )
        for name in runnable
    }
    started = time.monotonic()
    executor = ThreadPoolExecutor(max_workers=len(runnable), thread_name_prefix="ai-provider")
    futures: dict[Future[ProviderResult], ProviderName] = {}
    abandoned: set[ProviderName] = set()
    try:
        for name, credential in runnable.items():
            future = executor.submit(
                _call_provider, name, credential, system, user, settings, deadlines[name], redact
            )
            futures[future] = name
        pending = dict(futures)
        while pending:
            cutoff = {f: deadlines[n].at + ABANDON_GRACE_S for f, n in pending.items()}
            timeout = max(min(cutoff.values()) - time.monotonic(), 0.0)
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                del pending[future]
            now = time.monotonic()
            for future in [f for f in pending if cutoff[f] <= now]:
                abandoned.add(pending.pop(future))
    finally:
        # Never block on a thread that overran its deadline: it is abandoned, its answer unused.
        executor.shutdown(wait=False, cancel_futures=True)

    results: dict[str, ProviderResult] = {}
    for future, name in futures.items():
        if name in abandoned or future.cancelled():
            results[name] = _failed(
                name,
                settings,
                redact,
                ProviderFailure(
                    "timeout", "no answer before the deadline", error_code="DeadlineReached"
                ),
                latency_ms=_ms_since(started),
            )
        elif (exc := future.exception()) is not None:  # _call_provider catches everything
            results[name] = _unexpected(name, settings, redact, exc, latency_ms=_ms_since(started))
        else:
            results[name] = future.result()
    return results


def _call_provider(
    name: ProviderName,
    credential: Credential,
    system: str,
    user: str,
    settings: AiSettings,
    deadline: Deadline,
    redact: Redactor,
) -> ProviderResult:
    started = time.monotonic()
    with deadline_scope(deadline):
        try:
            provider = create_provider(name, credential.api_key, settings)
            answer = provider.assess(system, user, deadline)
        except ProviderFailure as failure:
            return _failed(name, settings, redact, failure, latency_ms=_ms_since(started))
        except Exception as exc:
            return _unexpected(name, settings, redact, exc, latency_ms=_ms_since(started))
    outcome = ProviderOutcome(
        provider=name,
        model=answer.model,
        outcome="ok",
        latency_ms=_ms_since(started),
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cost_usd=settings.cost_usd(name, answer.input_tokens, answer.output_tokens),
    )
    return ProviderResult(outcome=outcome, assessment=answer.assessment)


def _failed(
    name: ProviderName,
    settings: AiSettings,
    redact: Redactor,
    failure: ProviderFailure,
    *,
    latency_ms: int,
    traceback: str | None = None,
) -> ProviderResult:
    """The result of a provider call that failed, its message and code scrubbed."""
    tokens = (failure.input_tokens, failure.output_tokens)
    outcome = ProviderOutcome(
        provider=name,
        model=failure.model or settings.model_for(name),
        outcome=failure.kind,
        latency_ms=latency_ms,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=settings.cost_usd(name, *tokens),
        error=redact(failure),
        status_code=failure.status_code,
        error_code=redact(failure.error_code, 100) if failure.error_code else None,
        retries=failure.retries,
    )
    trace = redact.text(traceback) if traceback else None
    return ProviderResult(outcome=outcome, retryable=failure.retryable, traceback=trace)


def _unexpected(
    name: ProviderName,
    settings: AiSettings,
    redact: Redactor,
    exc: BaseException,
    *,
    latency_ms: int,
) -> ProviderResult:
    """A provider call that raised something no binding classified: a retryable `error`, its
    traceback kept for the log."""
    failure = ProviderFailure(
        "error", f"{type(exc).__name__}: {exc}", error_code=type(exc).__name__
    )
    trace = "".join(format_exception(exc))
    return _failed(name, settings, redact, failure, latency_ms=latency_ms, traceback=trace)


def _log_failure(result: ProviderResult) -> None:
    """One WARNING per failed provider, from the ensemble's thread (never from a provider's
    thread, which may report after it was abandoned)."""
    outcome = result.outcome
    fields: dict[str, object] = {
        "provider": outcome.provider,
        "kind": outcome.outcome,
        "status_code": outcome.status_code,
        "error_code": outcome.error_code,
        "latency_ms": outcome.latency_ms,
        "retries": outcome.retries,
        "error": outcome.error,
    }
    if result.traceback:
        fields["traceback"] = result.traceback
    logger.warning("AI provider failed", extra=fields)


def _cause(outcome: ProviderOutcome) -> str:
    """'rate_limited 429 rate_limit_error': the kind, then the status and code when known."""
    parts = [outcome.outcome, outcome.status_code, outcome.error_code]
    return " ".join(str(part) for part in parts if part is not None)


def _unavailable(
    name: ProviderName, credential: Credential, settings: AiSettings, redact: Redactor
) -> ProviderResult:
    """A provider not called: `skipped` without credentials, a retryable `error` when the
    credential lookup failed (secrets.py has logged why)."""
    if credential.state == "error":
        failure = ProviderFailure("error", credential.detail, error_code="CredentialLookupFailed")
        return _failed(name, settings, redact, failure, latency_ms=0)
    skipped = ProviderOutcome(
        provider=name,
        model=settings.model_for(name),
        outcome="skipped",
        error=redact(credential.detail),
    )
    return ProviderResult(outcome=skipped, retryable=False)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _emit_metrics(results: list[ProviderResult], settings: AiSettings) -> None:
    """Per provider, one EMF document with the Provider dimension (ProviderLatency,
    ProviderErrors, InputTokens, OutputTokens, CostUsd); plus the analysis totals on the
    shared Metrics instance that the handler's decorator flushes."""
    try:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
        for result in results:
            outcome = result.outcome
            per_provider = EphemeralMetrics(namespace=namespace)
            per_provider.add_dimension(name="Provider", value=outcome.provider)
            per_provider.add_metric("ProviderLatency", MetricUnit.Milliseconds, outcome.latency_ms)
            per_provider.add_metric("ProviderErrors", MetricUnit.Count, 0 if result.answered else 1)
            per_provider.add_metric("InputTokens", MetricUnit.Count, outcome.input_tokens)
            per_provider.add_metric("OutputTokens", MetricUnit.Count, outcome.output_tokens)
            per_provider.add_metric("CostUsd", MetricUnit.NoUnit, outcome.cost_usd)
            per_provider.flush_metrics()
        shared = Metrics(namespace=namespace)
        shared.add_metric(
            "AnalysisCostUsd", MetricUnit.NoUnit, sum(r.outcome.cost_usd for r in results)
        )
        shared.add_metric(
            "ProvidersMissing", MetricUnit.Count, sum(1 for r in results if not r.answered)
        )
    except Exception:  # metrics must never break an analysis
        logger.warning("AI metrics could not be emitted", exc_info=True)
