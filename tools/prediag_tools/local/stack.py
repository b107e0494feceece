"""The whole template on a laptop: moto server + provisioned resources + API + triggers, with
each function in worker processes of its own."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from prediag_tools.local import demo, logs, processes
from prediag_tools.local.apigw import ApiSettings, LocalApi
from prediag_tools.local.cfn import DEFAULT_REGION
from prediag_tools.local.cognito import Identity, TokenVerifier, mint_id_token
from prediag_tools.local.demo_clinic import seed_demo_clinic
from prediag_tools.local.esm import SqsPoller, StreamPoller
from prediag_tools.local.lambda_api import LambdaApi
from prediag_tools.local.metrics import Metrics
from prediag_tools.local.moto_server import MotoServer
from prediag_tools.local.provision import LOCAL_API_ID, FunctionSpec, Provisioned, provision
from prediag_tools.local.workers import FunctionPool, lambda_environment

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"

# Variables a developer may set to reach real (or their own) AI endpoints; passed through.
PASSTHROUGH_PREFIXES = ("OPENAI_", "ANTHROPIC_")
PASSTHROUGH_NAMES = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",)
# The credentials Lambda gives a function (a role's session), fake here.
LAMBDA_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
SQS_CONCURRENCY_CAP = 25  # concurrent invocations per SQS mapping at most, whatever its setting
DEFAULT_API_CONCURRENCY = 4


def function_env(
    provisioned: Provisioned,
    spec: FunctionSpec,
    *,
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment one function runs with, before the variables Lambda itself sets.

    Its template environment; fake credentials; the region; moto as every AWS endpoint (and
    `extra`, e.g. AWS_ENDPOINT_URL_LAMBDA); no AWS config file of the developer's; tracing off
    (no X-Ray daemon); the developer's own AI settings passed through.
    """
    source = os.environ if environ is None else environ
    env = dict(spec.env)
    env.update(LAMBDA_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": provisioned.endpoint_url,
            "AWS_DEFAULT_REGION": provisioned.region,
            "AWS_REGION": provisioned.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    for key, value in source.items():
        if key.startswith(PASSTHROUGH_PREFIXES) or key in PASSTHROUGH_NAMES:
            env.setdefault(key, value)
    env.update(extra or {})
    return env


def localise_api_urls(provisioned: Provisioned, api_url: str) -> None:
    """Point the template's execute-api URLs (outputs, environment) at the local API."""
    stage = provisioned.stage
    remote = f"https://{LOCAL_API_ID}.execute-api.{provisioned.region}.amazonaws.com"

    def local(value: Any) -> Any:
        if not isinstance(value, str) or remote not in value:
            return value
        return value.replace(f"{remote}/{stage}", api_url).replace(remote, api_url)

    provisioned.outputs = {k: local(v) for k, v in provisioned.outputs.items()}
    for spec in provisioned.functions.values():
        spec.env = {k: local(v) for k, v in spec.env.items()}


class _Fakes:
    """The fake AI provider servers of tests/fakes, when that package is present."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self._handle: Any = None
        self._exit: Any = None

    def start(self) -> dict[str, str]:
        root = str(PROJECT_ROOT)
        if root not in sys.path:
            sys.path.insert(0, root)
        try:
            start_fakes = importlib.import_module("tests.fakes").start_fakes
        except (ImportError, AttributeError) as exc:
            raise RuntimeError(
                "--simulate-ai needs the fake provider servers (tests/fakes: start_fakes)"
            ) from exc
        handle = start_fakes()
        if hasattr(handle, "__enter__"):
            self._exit = handle.__exit__
            entered = handle.__enter__()
            handle = entered if entered is not None else handle
        self._handle = handle
        env = handle if isinstance(handle, Mapping) else getattr(handle, "env", None)
        if callable(env):
            env = env()
        if not isinstance(env, Mapping):
            raise RuntimeError("start_fakes() gave no environment for the SDKs")
        self.env = {str(k): str(v) for k, v in env.items()}
        return self.env

    def stop(self) -> None:
        if self._exit is not None:
            with contextlib.suppress(Exception):
                self._exit(None, None, None)
        elif self._handle is not None:
            for name in ("stop", "close", "shutdown"):
                method = getattr(self._handle, name, None)
                if callable(method):
                    with contextlib.suppress(Exception):
                        method()
                    break
        self._handle = self._exit = None


class LocalStack:
    """moto + resources + API + Lambda API + pollers + the functions' worker pools.

    stack = LocalStack().start(moto_port=5005, api_port=3000, lambda_port=3001)
    stack.api_url, stack.lambda_url, stack.endpoint_url, stack.outputs ... stack.stop()
    """

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        parameters: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        moto_log: Path | None = None,
        api_concurrency: int = DEFAULT_API_CONCURRENCY,
    ) -> None:
        self.template_path = Path(template_path)
        self.parameters = dict(parameters or {})
        self.region = region
        self.moto_log = moto_log
        self.api_concurrency = max(1, api_concurrency)
        self.moto: MotoServer | None = None
        self.api: LocalApi | None = None
        self.lambda_api: LambdaApi | None = None
        self.provisioned: Provisioned | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: dict[str, SqsPoller | StreamPoller] = {}
        self.metrics: Metrics | None = None
        self.outputs: dict[str, Any] = {}
        self.simulate_ai = False
        self.ai_providers: list[str] | None = None
        self.demo_record: str | None = None
        self._fakes = _Fakes()

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise RuntimeError("the local stack is not started")
        return self.api.url

    @property
    def lambda_url(self) -> str:
        if self.lambda_api is None:
            raise RuntimeError("the local stack is not started")
        return self.lambda_api.url

    @property
    def endpoint_url(self) -> str:
        if self.moto is None:
            raise RuntimeError("the local stack is not started")
        return self.moto.url

    # ------------------------------------------------------------------ lifecycle
    def start(
        self,
        moto_port: int = 5005,
        api_port: int = 3000,
        lambda_port: int = 3001,
        *,
        simulate_ai: bool = False,
        stage: str = "local",
        seed_demo: bool = False,
    ) -> Self:
        try:
            self._start(moto_port, api_port, lambda_port, simulate_ai, stage, seed_demo)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(
        self,
        moto_port: int,
        api_port: int,
        lambda_port: int,
        simulate_ai: bool,
        stage: str,
        seed_demo: bool,
    ) -> None:
        self.simulate_ai = simulate_ai
        # bind the ports first: a port conflict fails before anything else starts
        self.api = LocalApi(port=api_port, stage=stage)
        self.lambda_api = LambdaApi(port=lambda_port)
        self.moto = MotoServer(moto_port, log_path=self.moto_log).start()
        fake_env = self._fakes.start() if simulate_ai else {}
        source = {**os.environ, **fake_env}
        parameters = {"Stage": stage, **self.parameters}
        provisioned = provision(self.template_path, self.moto.url, parameters, region=self.region)
        seed_demo_clinic(provisioned)
        self.provisioned = provisioned
        localise_api_urls(provisioned, self.api.url)
        self.outputs = dict(provisioned.outputs)
        self.metrics = Metrics(self.moto.url, self.region)
        extra = {**fake_env, "AWS_ENDPOINT_URL_LAMBDA": self.lambda_api.url}
        for logical_id, spec in provisioned.functions.items():
            env = function_env(provisioned, spec, extra=extra, environ=source)
            self.pools[logical_id] = FunctionPool(spec, env, log=logs.emit, observer=self.metrics)
        self._wire(provisioned)
        self._size_pools()
        if seed_demo:
            self.demo_record = demo.seed(provisioned)
        self.api.serve()
        self.lambda_api.serve()
        for poller in self.pollers.values():
            poller.start()

    def _wire(self, provisioned: Provisioned) -> None:
        assert self.api is not None and self.lambda_api is not None and self.moto is not None
        verifiers: dict[str, TokenVerifier] = {}

        def verifier_for(pool_id: str) -> TokenVerifier:
            assert self.moto is not None
            return verifiers.setdefault(
                pool_id, TokenVerifier(self.moto.url, provisioned.region, pool_id)
            )

        for route in provisioned.routes:
            verifier = None
            if route.authorizer is not None:
                verifier = verifier_for(route.authorizer.user_pool_id)
            self.api.add_route(route, self.pools[route.function], verifier)
        binary: list[str] = []
        for res in provisioned.resources.values():
            if res.type == "AWS::Serverless::Api":
                binary += [
                    str(t).replace("~1", "/") for t in res.properties.get("BinaryMediaTypes") or []
                ]
                self.api.apis[res.logical_id] = ApiSettings.of(res.properties, verifier_for)
        self.api.binary_media_types = binary
        for sqs_mapping in provisioned.sqs_mappings:
            self.pollers[sqs_mapping.name] = SqsPoller(
                sqs_mapping,
                self.pools[sqs_mapping.function],
                self.moto.url,
                self.region,
                concurrency_cap=SQS_CONCURRENCY_CAP,
                metrics=self.metrics,
            )
        for stream_mapping in provisioned.stream_mappings:
            self.pollers[stream_mapping.name] = StreamPoller(
                stream_mapping,
                self.pools[stream_mapping.function],
                self.moto.url,
                self.region,
                metrics=self.metrics,
            )
        for pool in self.pools.values():
            self.lambda_api.add_function(pool)
        for poller in self.pollers.values():
            self.lambda_api.add_mapping(poller)
        self.lambda_api.on_update = lambda _poller: self._size_pools()

    def _size_pools(self) -> None:
        """Each pool holds as many environments as its function's triggers run at once: each
        SQS mapping's MaximumConcurrency (at most SQS_CONCURRENCY_CAP), one per stream shard,
        `api_concurrency` for the API; within the function's reserved concurrency."""
        assert self.provisioned is not None
        for logical_id, pool in self.pools.items():
            size = 0
            for poller in self.pollers.values():
                if poller.runtime is pool:
                    size += poller.concurrency if isinstance(poller, SqsPoller) else 1
            if any(r.function == logical_id for r in self.provisioned.routes):
                size += self.api_concurrency
            reserved = pool.spec.reserved_concurrency
            if reserved is not None:
                size = min(size, reserved)
            pool.max_workers = max(1, size)

    def probe_ai_providers(self) -> list[str] | None:
        """The AI providers the analysis would use (`prediag.ai.active_providers()`), asked in
        a process with the environment of the function that has AI settings; None when no
        function has them or the probe fails."""
        pool = next((p for p in self.pools.values() if "AI_PROVIDERS" in p.base_env), None)
        if pool is None:
            return None
        env = lambda_environment(pool.spec, pool.base_env, log_stream="probe")
        code = "import json; from prediag.ai import active_providers as a; print(json.dumps(a()))"
        proc = processes.spawn(
            [sys.executable, "-P", "-c", code],
            env=env,
            cwd=str(pool.spec.code_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            processes.stop(proc, 0)
            return None
        try:
            found = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None
        return [str(p) for p in found] if isinstance(found, list) else None

    def prewarm(self) -> None:
        """Start one execution environment per function now (their init runs in parallel)."""
        for pool in self.pools.values():
            pool.prewarm(1)

    def stop(self) -> None:
        """Stop everything, children first; returns in about a second."""
        for poller in self.pollers.values():
            poller.stop()
        for pool in self.pools.values():
            pool.shutdown()
        servers = [s for s in (self.api, self.lambda_api) if s is not None]
        closing = [threading.Thread(target=s.close) for s in servers]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join(10)
        self.api = None
        self.lambda_api = None
        if self.metrics is not None:
            self.metrics.close()
        if self.moto is not None:
            self.moto.stop()  # a poller waiting on a long poll gets its answer (an error) now
            self.moto = None
        for poller in self.pollers.values():
            if poller.is_alive():
                poller.join(5)
        self.pollers.clear()
        self._fakes.stop()

    def kill_children(self) -> None:
        """The last resort of a forced stop: kill every child process at once, wait for none."""
        for pool in self.pools.values():
            pool.kill_all()
        if self.moto is not None:
            self.moto.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def identity(self) -> Identity:
        if self.provisioned is None or self.moto is None:
            raise RuntimeError("the local stack is not started")
        return identity_of(self.provisioned)

    def mint_token(
        self, email: str, groups: list[str] | None = None, clinic_id: str | None = None
    ) -> str:
        return mint_id_token(self.identity(), email, groups=groups, clinic_id=clinic_id)


def identity_of(provisioned: Provisioned) -> Identity:
    """The user pool and app client an authorizer of the template uses."""
    pools = provisioned.user_pools()
    if not pools:
        raise RuntimeError("the template declares no Cognito user pool")
    wanted = next((r.authorizer.user_pool_id for r in provisioned.routes if r.authorizer), None)
    pool = next((p for p in pools if p.ref == wanted), pools[0])
    clients = [
        c for c in provisioned.user_pool_clients() if c.properties.get("UserPoolId") == pool.ref
    ]
    if not clients:
        raise RuntimeError(f"the template declares no app client for user pool {pool.logical_id}")
    return Identity(pool.ref, clients[0].ref, provisioned.region, provisioned.endpoint_url)
