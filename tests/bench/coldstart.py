"""Cold-start rows: each function's import time against boto3 + Powertools, and artifact sizes.

The import is timed the way Lambda runs it: a fresh interpreter (`-I -S -B`: no site-packages,
no bytecode written) whose path is the function's code, then its layers, then the runtime's
boto3, as Lambda orders /var/task, /opt/python and /var/runtime. The layers are built for this
machine by their own Makefiles (PLATFORM=host, the recipe `sam build` runs for arm64), the
function code is copied without bytecode as `sam build` ships it, and boto3 is installed from the
lock. The reference is a minimal Powertools function in the same layout: boto3, Logger, Metrics,
Tracer and the REST event handler, imported and created.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.bench.localstack import ROOT

BENCH_DIR = ROOT / ".aws-sam" / "bench"
LAYERS = {"CommonLayer": ROOT / "layers" / "common", "AiLayer": ROOT / "layers" / "ai"}
FUNCTIONS = {
    "submit": ("CommonLayer",),
    "analyze": ("CommonLayer", "AiLayer"),
    "notify": ("CommonLayer",),
}
RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
REFERENCE = (
    "import boto3\n"
    "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\n"
    "Logger(); Metrics(); Tracer(); APIGatewayRestResolver()\n"
)
FUNCTION_ENV = {
    "TABLE_NAME": "t",
    "IDEMPOTENCY_TABLE_NAME": "i",
    "URGENT_QUEUE_URL": "http://127.0.0.1:9/u",
    "NORMAL_QUEUE_URL": "http://127.0.0.1:9/n",
    "URGENT_DLQ_URL": "http://127.0.0.1:9/ud",
    "NORMAL_DLQ_URL": "http://127.0.0.1:9/nd",
    "VET_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:v",
    "AI_PROVIDERS": "openai,anthropic,bedrock",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "POWERTOOLS_SERVICE_NAME": "prediag",
    "POWERTOOLS_METRICS_NAMESPACE": "Prediag",
}


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _locked(lock: Path, names: tuple[str, ...]) -> str:
    """The blocks (pin + hashes) of `names` in a uv/pip-compile lock file."""
    keep, out = False, []
    for line in lock.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            keep = line.split("==")[0].strip().lower() in names
        if keep and not line.lstrip().startswith("#"):
            out.append(line)
    return "\n".join(out) + "\n"


def _quiet(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{out.stdout}{out.stderr}")


def lambda_layout() -> dict[str, Path]:
    """Layer replicas for this machine and a runtime boto3, cached by their inputs."""
    python = ROOT / ".venv" / "bin" / "python"
    lock = ROOT / "requirements" / "dev.lock"
    out: dict[str, Path] = {}
    for name, source in LAYERS.items():
        target = BENCH_DIR / f"{name}-{_digest(source)}"
        if not (target / "python").is_dir():
            shutil.rmtree(target, ignore_errors=True)
            _quiet(
                ["make", "-s", "-C", str(source), f"build-{name}", "PLATFORM=host",
                 f"ARTIFACTS_DIR={target}", f"PYTHON={python}"]
            )  # fmt: skip
        out[name] = target / "python"
    runtime = BENCH_DIR / f"runtime-{_digest(lock)}"
    if not runtime.is_dir():
        pins = BENCH_DIR / "runtime-requirements.txt"
        pins.parent.mkdir(parents=True, exist_ok=True)
        pins.write_text(_locked(lock, RUNTIME_PACKAGES))
        _quiet(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--require-hashes",
             "--target", str(runtime), "-r", str(pins)]
        )  # fmt: skip
    out["runtime"] = runtime
    for function in FUNCTIONS:
        code = BENCH_DIR / "functions" / function
        shutil.rmtree(code, ignore_errors=True)
        shutil.copytree(
            ROOT / "functions" / function, code, ignore=shutil.ignore_patterns("__pycache__")
        )
        out[function] = code
    return out


def _import_seconds(path: list[Path], code: str, function: str) -> float:
    script = (
        f"import sys, time\nsys.path[:0] = {[str(p) for p in path]!r}\n"
        f"t = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)\n"
    )
    env = {
        **FUNCTION_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": f"prediag-bench-{function}",
        "LAMBDA_TASK_ROOT": str(path[0]),
        "PATH": os.environ.get("PATH", ""),
    }
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script],
        cwd=path[0],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"import of {function} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


@dataclass
class ImportTimes:
    samples: dict[str, list[float]]
    ratios: dict[str, list[float]]

    def median_ms(self, name: str) -> float:
        return statistics.median(self.samples[name]) * 1000

    def fastest_ms(self, name: str) -> float:
        return min(self.samples[name]) * 1000


def import_times(repeat: int) -> ImportTimes:
    """Median import time of each function and of the reference, runs interleaved so that load
    from others on the machine hits them alike; ratios per round."""
    layout = lambda_layout()
    runtime = layout["runtime"]
    reference_path = [BENCH_DIR, layout["CommonLayer"], runtime]
    samples: dict[str, list[float]] = {"reference": [], **{f: [] for f in FUNCTIONS}}
    ratios: dict[str, list[float]] = {f: [] for f in FUNCTIONS}
    for _ in range(repeat):
        ref = _import_seconds(reference_path, REFERENCE, "reference")
        samples["reference"].append(ref)
        for function, layers in FUNCTIONS.items():
            path = [layout[function], *(layout[name] for name in layers), runtime]
            took = _import_seconds(path, "import app", function)
            samples[function].append(took)
            ratios[function].append(took / ref)
    return ImportTimes(samples, ratios)


# ---------------------------------------------------------------------- artifact sizes
def _sizes(directory: Path) -> tuple[int, int]:
    """(bytes on disk, bytes zipped) of a build artifact, as `sam deploy` would upload it."""
    raw = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                raw += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return raw, buffer.tell()


def artifact_sizes(build_dir: Path = ROOT / ".aws-sam" / "build") -> dict[str, tuple[int, int]]:
    if not build_dir.is_dir():
        return {}
    return {d.name: _sizes(d) for d in sorted(build_dir.iterdir()) if d.is_dir()}
