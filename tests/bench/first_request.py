"""The API function's first request: what a deferral at import would move, timed (not a row).

    .venv/bin/python -m tests.bench.first_request [--rounds 7] [--against ../other-checkout]

In the cold-start layout (`coldstart.lambda_layout`: the layers built for this machine, the
function's sources, the runtime's boto3), a fresh interpreter per round imports app, then calls
lambda_handler with POST /pre-diagnoses (the sample request, an Idempotency-Key, an owner of its
own) - the cold call -, a second POST (warm), a GET of the record, and renders the OpenAPI
document (`app.openapi_json()`, what GET /swagger?format=json answers). The AWS calls go to a
moto server with the template's resources (the clinic registered, the quota raised). With
`--against`, another checkout's layout (built by its own coldstart module) runs in the same
rounds, interleaved, so that load from others on the machine hits both alike. Prints medians and
ranges in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from prediag_tools.local import MotoServer, provision
from prediag_tools.local.aws import FAKE_CREDENTIALS
from prediag_tools.local.demo_clinic import seed_demo_clinic
from tests.bench.localstack import REGION, ROOT

PYTHON = ROOT / ".venv" / "bin" / "python"
EVENT = json.loads((ROOT / "events" / "api-post-pre-diagnosis.json").read_text())
PROBE = r"""
import json, sys, time, uuid
sys.path[:0] = PATHS
t0 = time.perf_counter()
import app
t1 = time.perf_counter()

class Context:
    function_name = "prediag-bench-submit"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:prediag-bench-submit"
    aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self):
        return 29000

def post():
    event = json.loads(EVENT)
    key = uuid.uuid4().hex
    event["headers"]["Idempotency-Key"] = key
    event["multiValueHeaders"]["Idempotency-Key"] = [key]
    return app.lambda_handler(event, Context())

def timed(call):
    start = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - start

created, first = timed(post)
_, second = timed(post)
record = json.loads(created["body"])["id"]
event = json.loads(EVENT)
event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"
event["path"] = event["resource"] = "/pre-diagnoses/" + record
event["body"], event["pathParameters"] = None, {"id": record}
read, get = timed(lambda: app.lambda_handler(event, Context()))
_, doc = timed(app.openapi_json)
assert (created["statusCode"], read["statusCode"]) == (201, 200), (created, read)
print(json.dumps({"import": t1 - t0, "first POST": first, "second POST": second,
                  "first GET": get, "document": doc}))
"""


def layout_of(root: Path) -> dict[str, str]:
    """The cold-start layout of a checkout, built by that checkout's own coldstart module."""
    code = (
        "import json\nfrom tests.bench import coldstart\n"
        "print(json.dumps({k: str(v) for k, v in coldstart.lambda_layout().items()}))"
    )
    env = {**os.environ, "PYTHONPATH": f"{root}/layers/common:{root}/tools"}
    out = subprocess.run(
        [str(PYTHON), "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    layout: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return layout


def one_round(layout: dict[str, str], env: dict[str, str]) -> dict[str, float]:
    paths = [layout["submit"], layout["CommonLayer"], layout["runtime"]]
    event = json.loads(json.dumps(EVENT))
    event["requestContext"]["authorizer"]["claims"]["sub"] = "bench-" + secrets.token_hex(6)
    probe = PROBE.replace("PATHS", repr(paths)).replace("EVENT", repr(json.dumps(event)))
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe],
        cwd=paths[0],
        env={**env, "LAMBDA_TASK_ROOT": paths[0]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the first request failed:\n{out.stderr[-3000:]}")
    times: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return {name: seconds * 1000 for name, seconds in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--against", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    roots = [ROOT, *(p.resolve() for p in args.against)]
    layouts = {root: layout_of(root) for root in roots}
    samples: dict[Path, dict[str, list[float]]] = {root: {} for root in roots}
    with MotoServer() as server:
        stage = "b" + secrets.token_hex(4)
        params = {"Stage": stage, "SubmissionsPerOwnerPerHour": "1000"}
        stack = provision(ROOT / "template.yaml", server.url, parameters=params, region=REGION)
        seed_demo_clinic(stack)
        env: dict[str, Any] = {
            **stack.function("submit").env,
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": server.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": "prediag-bench-submit",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "POWERTOOLS_SERVICE_NAME": "prediag",
            "POWERTOOLS_METRICS_NAMESPACE": "Prediag",
            "PATH": os.environ.get("PATH", ""),
        }
        for _ in range(args.rounds):
            for root in roots:
                for name, ms in one_round(layouts[root], env).items():
                    samples[root].setdefault(name, []).append(ms)
    for root, figures in samples.items():
        print(root)
        figures["import + first POST"] = [
            a + b for a, b in zip(figures["import"], figures["first POST"], strict=True)
        ]
        for name, values in figures.items():
            print(
                f"  {name:20s} median {statistics.median(values):7.1f} ms "
                f"(range {min(values):.1f}-{max(values):.1f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
