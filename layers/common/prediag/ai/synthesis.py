"""Synthesis: one validated Analysis from the providers' validated assessments. Pure logic.

Rules (documented in docs/ai-ensemble.md):
- urgency: the level most providers chose; a tie goes to the more urgent level; the result is
  never below the deterministic triage floor;
- differentials: merged across providers by normalised name, each with the ensemble
  likelihood (the mean over the providers that answered, 0 for a provider that did not propose
  it), ranked by that likelihood, then by how many providers proposed it;
- disagreements the vet should see are written out: an urgency spread of two levels or more,
  the floor overriding the models, a differential only one provider proposes with a high
  likelihood, different most-likely diagnoses;
- owner-facing text (summary, advice) comes only from providers whose urgency equals the final
  level and who wrote in the owner's locale; otherwise the deterministic texts are used.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from statistics import fmean

from prediag.ai.schema import ModelAssessment
from prediag.ai.triage_only import (
    OWNER_ADVICE,
    TRIAGE_ONLY_CONFIDENCE_WITH_FLAGS,
    URGENCY_LABEL,
    triage_summary,
)
from prediag.models import (
    Analysis,
    Differential,
    Locale,
    PreDiagnosisRequest,
    ProviderOutcome,
    TriageResult,
    Urgency,
)

MAX_DIFFERENTIALS = 8
MAX_LIST_ITEMS = 10
URGENCY_SPREAD_FLAGGED = 2


@dataclass(frozen=True)
class ProviderResult:
    """What one provider produced: its outcome record and, when it answered, its validated
    assessment. `retryable` says whether another attempt could change a failure."""

    outcome: ProviderOutcome
    assessment: ModelAssessment | None = None
    retryable: bool = False
    traceback: str | None = None
    """The scrubbed traceback of a failure no provider binding classified: logged, not stored."""

    @property
    def name(self) -> str:
        return self.outcome.provider

    @property
    def answered(self) -> bool:
        return self.outcome.outcome == "ok" and self.assessment is not None

    @property
    def attempted(self) -> bool:
        return self.outcome.outcome != "skipped"


# ------------------------------------------------------------------ urgency


def consensus_urgency(levels: list[Urgency]) -> Urgency:
    """The level most providers chose; among equally frequent levels, the more urgent one."""
    if not levels:
        raise ValueError("no urgency to agree on")
    votes = Counter(levels)
    return min(votes, key=lambda level: (-votes[level], level.rank))


# ------------------------------------------------------------------ names

_QUALIFIER = re.compile(
    r"^(?:possible|probable|suspected|suspicion of|presumed|presumptive|likely|rule out|r/o|"
    r"suspicion d[e']|suspicion|possible|probable|présumée?|probablement)\s+",
    re.IGNORECASE,
)
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "and",
        "with",
        "de",
        "d",
        "du",
        "des",
        "la",
        "le",
        "les",
        "l",
        "et",
        "avec",
        "en",
    }
)
_PARENTHESISED = re.compile(r"^(?P<outer>[^()]+?)\s*\((?P<inner>[^()]+)\)\s*$")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).strip()


def condition_key(name: str) -> str:
    """Normalised form of a condition name: accents, case, punctuation, qualifiers such as
    'suspected', articles and word order do not matter."""
    text = name.strip()
    while True:
        stripped = _QUALIFIER.sub("", text)
        if stripped == text:
            break
        text = stripped
    tokens = [tok for tok in _plain(text).split() if tok not in _STOPWORDS]
    return " ".join(sorted(tokens))


def _aliases(names: list[str]) -> dict[str, str]:
    """'Gastric dilatation-volvulus (GDV)' teaches that 'GDV' and the full name are one
    condition: map the shorter form's key to the longer form's key."""
    alias: dict[str, str] = {}
    for name in names:
        match = _PARENTHESISED.match(name.strip())
        if not match:
            continue
        outer, inner = match["outer"], match["inner"]
        long_form, short_form = (outer, inner) if len(outer) >= len(inner) else (inner, outer)
        long_key, short_key = condition_key(long_form), condition_key(short_form)
        if long_key and short_key and long_key != short_key:
            alias.setdefault(short_key, long_key)
    return alias


def _resolved_key(name: str, alias: dict[str, str]) -> str:
    match = _PARENTHESISED.match(name.strip())
    if match:
        outer, inner = match["outer"], match["inner"]
        name = outer if len(outer) >= len(inner) else inner
    key = condition_key(name)
    return alias.get(key, key)


# ------------------------------------------------------------------ differentials


@dataclass
class _Merged:
    key: str
    by_provider: dict[str, tuple[float, str, str]] = field(default_factory=dict)

    def add(self, provider: str, likelihood: float, condition: str, reasoning: str) -> None:
        previous = self.by_provider.get(provider)
        if previous is None or likelihood > previous[0]:
            self.by_provider[provider] = (likelihood, condition, reasoning)

    @property
    def support(self) -> int:
        return len(self.by_provider)

    def ensemble_likelihood(self, answered: int) -> float:
        return sum(v[0] for v in self.by_provider.values()) / answered

    def best(self) -> tuple[str, float, str, str]:
        """The supporting provider with the highest likelihood, and its wording."""
        provider, (likelihood, condition, reasoning) = max(
            self.by_provider.items(), key=lambda item: (item[1][0], item[0])
        )
        return provider, likelihood, condition, reasoning

    def differential(self, answered: int) -> Differential:
        _, _, condition, reasoning = self.best()
        return Differential(
            condition=condition,
            likelihood=round(min(max(self.ensemble_likelihood(answered), 0.0), 1.0), 3),
            reasoning=reasoning,
            supported_by=sorted(self.by_provider),
        )


def _merge(answered: list[ProviderResult]) -> list[_Merged]:
    names = [d.condition for r in answered if r.assessment for d in r.assessment.differentials]
    alias = _aliases(names)
    merged: dict[str, _Merged] = {}
    for result in answered:
        assert result.assessment is not None
        for diff in result.assessment.differentials:
            key = _resolved_key(diff.condition, alias) or _plain(diff.condition)
            merged.setdefault(key, _Merged(key)).add(
                result.name, diff.likelihood, diff.condition, diff.reasoning
            )
    count = max(len(answered), 1)
    return sorted(merged.values(), key=lambda m: (-m.ensemble_likelihood(count), -m.support, m.key))


def merge_differentials(answered: list[ProviderResult]) -> list[Differential]:
    """Differentials of all answering providers merged by normalised name and ranked by the
    ensemble likelihood (mean over answering providers, 0 when not proposed), then support."""
    count = max(len(answered), 1)
    return [m.differential(count) for m in _merge(answered)[:MAX_DIFFERENTIALS]]


# ------------------------------------------------------------------ lists


def _union(
    lists: list[list[str]], limit: int = MAX_LIST_ITEMS, *, by_support: bool = True
) -> list[str]:
    """Items of several lists, deduplicated on their plain form: the most widely shared first
    (when `by_support`), otherwise in order of first appearance."""
    first_seen: dict[str, tuple[int, str]] = {}
    support: Counter[str] = Counter()
    position = 0
    for items in lists:
        seen_here: set[str] = set()
        for item in items:
            key = _plain(item)
            if not key:
                continue
            if key not in first_seen:
                first_seen[key] = (position, item.strip())
                position += 1
            if key not in seen_here:
                support[key] += 1
                seen_here.add(key)
    ordered = sorted(first_seen, key=lambda k: (-support[k] if by_support else 0, first_seen[k][0]))
    return [first_seen[k][1] for k in ordered[:limit]]


# ------------------------------------------------------------------ disagreements

_TEXTS: dict[Locale, dict[str, str]] = {
    "en": {
        "spread": "The models disagree on urgency by {spread} levels: {levels}.",
        "floor": (
            "The clinic's red-flag rules ({flags}) set the urgency to {floor}; "
            "the models' consensus was {consensus}."
        ),
        "solo": "Only {provider} proposes {condition} (likelihood {likelihood:.2f}).",
        "top": "The models differ on the most likely diagnosis: {tops}.",
    },
    "fr": {
        "spread": "Les modèles divergent de {spread} niveaux sur l'urgence : {levels}.",
        "floor": (
            "Les règles d'alerte de la clinique ({flags}) fixent l'urgence à {floor} ; "
            "le consensus des modèles était {consensus}."
        ),
        "solo": "Seul {provider} propose {condition} (probabilité {likelihood:.2f}).",
        "top": "Les modèles divergent sur le diagnostic le plus probable : {tops}.",
    },
}


def _disagreements(
    answered: list[ProviderResult],
    merged: list[_Merged],
    triage: TriageResult,
    consensus: Urgency,
    final: Urgency,
    locale: Locale,
    solo_threshold: float,
) -> list[str]:
    texts, labels = _TEXTS[locale], URGENCY_LABEL[locale]
    notes: list[str] = []
    levels = [(r.name, r.assessment.urgency) for r in answered if r.assessment]
    ranks = [level.rank for _, level in levels]
    if ranks and max(ranks) - min(ranks) >= URGENCY_SPREAD_FLAGGED:
        notes.append(
            texts["spread"].format(
                spread=max(ranks) - min(ranks),
                levels=", ".join(f"{name} {labels[level]}" for name, level in levels),
            )
        )
    if final != consensus:
        notes.append(
            texts["floor"].format(
                flags=", ".join(flag.code for flag in triage.flags) or "-",
                floor=labels[final],
                consensus=labels[consensus],
            )
        )
    if len(answered) >= 2:
        for item in merged:
            if item.support == 1:
                provider, likelihood, condition, _ = item.best()
                if likelihood >= solo_threshold:
                    notes.append(
                        texts["solo"].format(
                            provider=provider, condition=condition, likelihood=likelihood
                        )
                    )
        alias = _aliases(
            [d.condition for r in answered if r.assessment for d in r.assessment.differentials]
        )
        tops = [(r.name, r.assessment.differentials[0].condition) for r in answered if r.assessment]
        if len({_resolved_key(condition, alias) for _, condition in tops}) > 1:
            notes.append(
                texts["top"].format(tops="; ".join(f"{name}: {cond}" for name, cond in tops))
            )
    return notes


# ------------------------------------------------------------------ synthesis


def synthesise(
    request: PreDiagnosisRequest,
    triage: TriageResult,
    results: list[ProviderResult],
    *,
    solo_differential_likelihood: float = 0.5,
    prompt_version: str | None = None,
) -> Analysis:
    """The ensemble Analysis. `results` holds every enabled provider (answered, failed or
    skipped); at least one must have answered."""
    answered = [r for r in results if r.answered]
    if not answered:
        raise ValueError("synthesis needs at least one provider that answered")
    assessments = [r.assessment for r in answered if r.assessment is not None]
    locale = request.owner_locale

    consensus = consensus_urgency([a.urgency for a in assessments])
    final = consensus.at_least(triage.level)

    merged = _merge(answered)
    differentials = [m.differential(len(answered)) for m in merged[:MAX_DIFFERENTIALS]]

    # Owner-facing text only from providers that agree with the final level, in the owner's
    # language; the deterministic advice for the level always comes first.
    agreeing = [a for a in assessments if a.urgency == final]
    speaking = sorted((a for a in agreeing if a.language == locale), key=lambda a: -a.confidence)
    summary = speaking[0].summary if speaking else triage_summary(triage, locale, level=final)
    owner_advice = _union(
        [OWNER_ADVICE[locale][final], *(a.owner_advice for a in speaking)],
        limit=8,
        by_support=False,
    )

    red_flags = _union([[flag.label for flag in triage.flags], *(a.red_flags for a in assessments)])
    vet_questions = _union([a.vet_questions for a in assessments])
    suggested_tests = _union([a.suggested_tests for a in assessments])

    mean_confidence = fmean(a.confidence for a in assessments)
    if final != consensus:
        confidence = min(mean_confidence, TRIAGE_ONLY_CONFIDENCE_WITH_FLAGS)
    else:
        confidence = mean_confidence * len(agreeing) / len(assessments)

    failed = [r for r in results if r.attempted and not r.answered]
    return Analysis(
        urgency=final,
        triage=triage,
        summary=summary,
        differentials=differentials,
        red_flags=red_flags,
        owner_advice=owner_advice,
        vet_questions=vet_questions,
        suggested_tests=suggested_tests,
        confidence=round(confidence, 3),
        disagreements=_disagreements(
            answered,
            merged,
            triage,
            consensus,
            final,
            locale,
            solo_differential_likelihood,
        ),
        providers=[r.outcome for r in results],
        degraded=bool(failed),
        missing_providers=[r.name for r in failed],
        method="ensemble",
        prompt_version=prompt_version,
    )
