"""Benchmark (not a test): the AI ensemble's wall time and the analyze path's import cost.

    python -m tests.bench.ensemble [--latencies 0.5 1.0] [--repeat 5]

1. Three fake providers (127.0.0.1) answer after the same latency L; `analyze_case` runs them
   through the real SDK clients. The wall time is printed as a ratio to L: ~1 means the
   providers overlap; calling them one after the other (printed as the sequential baseline,
   measured the same way, one provider per call) is ~3.
2. The cold-start import time, each in a fresh interpreter: `import prediag.ai` (what the
   analyze function pays at init), then the provider modules with their SDKs (what the first
   analysis pays unless `preload_providers()` runs at init).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from tests.fakes import Behaviour, start_fakes

AWS_BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _stats(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.3f}s (min {min(samples):.3f}, max {max(samples):.3f})"
    )


def bench_ensemble(latencies: list[float], repeat: int) -> None:
    from prediag.ai import AiSettings, analyze_case
    from prediag.models import Onset, Pet, PreDiagnosisRequest, Sex, Species, TriageResult, Urgency

    request = PreDiagnosisRequest(
        pet=Pet(
            id="bench",
            species=Species.DOG,
            breed="Beagle",
            age_years=5,
            weight_kg=12,
            sex=Sex.FEMALE_SPAYED,
        ),
        symptoms=["vomiting"],
        description="She has vomited three times since this morning and seems tired.",
        onset=Onset.HOURS,
        clinic_id="bench",
    )
    triage = TriageResult(level=Urgency.STANDARD, flags=[], rules_version="bench")
    settings = AiSettings(max_retries=0)
    singles = [settings.model_copy(update={"providers": (name,)}) for name in settings.providers]

    with start_fakes() as fakes:
        os.environ.update({**fakes.env(), **AWS_BENCH_ENV})
        os.environ.pop("AWS_ENDPOINT_URL", None)
        analyze_case(request, triage, remaining_ms=60_000, settings=settings)  # warm clients

        print("Ensemble wall time, three simulated providers at the same latency L")
        print(f"(real SDK clients, fakes on 127.0.0.1, {repeat} runs per row, clients warm)")
        for latency in latencies:
            fakes.set_default(Behaviour("ok", delay_s=latency))
            parallel = [
                _timed(
                    lambda: analyze_case(request, triage, remaining_ms=60_000, settings=settings)
                )
                for _ in range(repeat)
            ]
            sequential = [
                _timed(
                    lambda: [
                        analyze_case(request, triage, remaining_ms=60_000, settings=single)
                        for single in singles
                    ]
                )
                for _ in range(repeat)
            ]
            p, s = statistics.median(parallel), statistics.median(sequential)
            print(
                f"  L={latency:.2f}s  ensemble:   {_stats(parallel)}  ratio {p / latency:.2f} x L"
            )
            print(
                f"  L={latency:.2f}s  sequential: {_stats(sequential)}  ratio {s / latency:.2f} x L"
            )


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return float(out.stdout.strip().splitlines()[-1])


PACKAGES = (
    "openai",
    "anthropic",
    "httpx2",
    "boto3",
    "pydantic",
    "aws_lambda_powertools",
)


def _package_imports(statement: str) -> list[tuple[int, str]]:
    """Cumulative import time of the main third-party packages (-X importtime). A package's
    figure includes the dependencies it was the first to import."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        cumulative, name = parts[1].strip(), parts[2].strip()
        if cumulative.isdigit() and name in PACKAGES:
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)


def bench_imports(repeat: int) -> None:
    print()
    print(f"Cold-start import time (fresh interpreter each, median of {repeat})")
    cases = [
        ("import prediag.ai", "import prediag.ai"),
        ("import prediag.ai.ensemble", "import prediag.ai.ensemble"),
        (
            "provider modules + SDKs (preloaded at analyze init)",
            "import prediag.ai; import prediag.ai.providers.openai_provider, "
            "prediag.ai.providers.anthropic_provider, prediag.ai.providers.bedrock_provider",
        ),
    ]
    for label, statement in cases:
        samples = [_import_seconds(statement) for _ in range(repeat)]
        print(f"  {label:<44} {statistics.median(samples) * 1000:7.0f} ms")
    print("  where the provider modules' time goes (cumulative, -X importtime, one run):")
    for micros, name in _package_imports(
        "import prediag.ai.providers.openai_provider, prediag.ai.providers.anthropic_provider, "
        "prediag.ai.providers.bedrock_provider"
    ):
        print(f"    {name:<42} {micros / 1000:7.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ensemble")
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    bench_ensemble(args.latencies, args.repeat)
    bench_imports(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
