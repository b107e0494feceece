"""The whole template on a laptop: moto server + provisioned resources + API + triggers."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from prediag_tools.local import logs
from prediag_tools.local.apigw import LocalApi
from prediag_tools.local.aws import FAKE_CREDENTIALS
from prediag_tools.local.cfn import DEFAULT_REGION
from prediag_tools.local.cognito import Identity, TokenVerifier, mint_id_token
from prediag_tools.local.demo_clinic import seed_demo_clinic
from prediag_tools.local.esm import SqsPoller, StreamPoller
from prediag_tools.local.moto_server import MotoServer
from prediag_tools.local.provision import LOCAL_API_ID, Provisioned, provision
from prediag_tools.local.runtime import FunctionRuntime

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"

# Variables a developer may set to reach real (or their own) AI endpoints; passed through.
PASSTHROUGH_PREFIXES = ("OPENAI_", "ANTHROPIC_")
PASSTHROUGH_NAMES = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",)


def runtime_env(
    provisioned: Provisioned,
    functions: list[str] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The process environment the local functions run with.

    The template environment of `functions` (all by default; conflicts raise), moto as every
    AWS endpoint, fake credentials, the region, tracing off, and the developer's own AI
    settings passed through.
    """
    source = os.environ if environ is None else environ
    if functions is None:
        env = provisioned.union_env()
    else:
        env = {}
        for name in functions:
            env.update(provisioned.function(name).env)
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": provisioned.endpoint_url,
            "AWS_DEFAULT_REGION": provisioned.region,
            "AWS_REGION": provisioned.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    for key, value in source.items():
        if key.startswith(PASSTHROUGH_PREFIXES) or key in PASSTHROUGH_NAMES:
            env.setdefault(key, value)
    env.update(extra or {})
    return env


def active_ai_providers() -> list[str] | None:
    """`prediag.ai.active_providers()` when that module exists, else None."""
    try:
        module = importlib.import_module("prediag.ai")
    except ImportError:
        return None
    fn = getattr(module, "active_providers", None)
    if fn is None:
        return None
    try:
        return [str(p) for p in fn()]
    except Exception:  # the banner must not stop the stack
        return None


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
    """moto + resources + API + pollers in this process. A context manager.

    stack = LocalStack().start(moto_port=5005, api_port=3000)
    stack.api_url, stack.endpoint_url, stack.outputs, stack.env ... stack.stop()
    """

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        parameters: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        moto_log: Path | None = None,
    ) -> None:
        self.template_path = Path(template_path)
        self.parameters = dict(parameters or {})
        self.region = region
        self.moto_log = moto_log
        self.moto: MotoServer | None = None
        self.api: LocalApi | None = None
        self.provisioned: Provisioned | None = None
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.pollers: dict[str, SqsPoller | StreamPoller] = {}
        self.env: dict[str, str] = {}
        self.outputs: dict[str, Any] = {}
        self.simulate_ai = False
        self.ai_providers: list[str] | None = None
        self._fakes = _Fakes()
        self._saved_env: dict[str, str | None] = {}

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise RuntimeError("the local stack is not started")
        return self.api.url

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
        simulate_ai: bool = False,
        stage: str = "local",
    ) -> Self:
        try:
            self._start(moto_port, api_port, simulate_ai, stage)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, moto_port: int, api_port: int, simulate_ai: bool, stage: str) -> None:
        logs.install()
        self.simulate_ai = simulate_ai
        # bind the API port first: a port conflict fails before anything else starts
        self.api = LocalApi(port=api_port, stage=stage)
        self.moto = MotoServer(moto_port, log_path=self.moto_log).start()
        fake_env = self._fakes.start() if simulate_ai else {}
        source = {**os.environ, **fake_env}
        parameters = {"Stage": stage, **self.parameters}
        provisioned = provision(self.template_path, self.moto.url, parameters, region=self.region)
        seed_demo_clinic(provisioned)
        self.provisioned = provisioned
        localise_api_urls(provisioned, self.api.url)
        # Pause/resume from the admin routes reaches the local triggers through /_local/esm.
        local_control = {"ESM_CONTROL_URL": self.api.url}
        self.env = runtime_env(provisioned, extra={**fake_env, **local_control}, environ=source)
        self.outputs = dict(provisioned.outputs)
        self._apply_env(self.env)
        self._wire(provisioned)
        self.api.serve()
        for poller in self.pollers.values():
            poller.start()

    def _apply_env(self, env: Mapping[str, str]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _wire(self, provisioned: Provisioned) -> None:
        assert self.api is not None
        assert self.moto is not None
        for logical_id, spec in provisioned.functions.items():
            self.runtimes[logical_id] = FunctionRuntime(spec)
        verifiers: dict[str, TokenVerifier] = {}
        for route in provisioned.routes:
            verifier = None
            if route.authorizer is not None:
                pool = route.authorizer.user_pool_id
                verifier = verifiers.setdefault(
                    pool, TokenVerifier(self.moto.url, provisioned.region, pool)
                )
            self.api.add_route(route, self.runtimes[route.function], verifier)
        binary: list[str] = []
        for res in provisioned.resources.values():
            if res.type == "AWS::Serverless::Api":
                binary += [
                    str(t).replace("~1", "/") for t in res.properties.get("BinaryMediaTypes") or []
                ]
        self.api.binary_media_types = binary
        for sqs_mapping in provisioned.sqs_mappings:
            self.pollers[sqs_mapping.name] = SqsPoller(
                sqs_mapping, self.runtimes[sqs_mapping.function], self.moto.url, self.region
            )
        for stream_mapping in provisioned.stream_mappings:
            self.pollers[stream_mapping.name] = StreamPoller(
                stream_mapping, self.runtimes[stream_mapping.function], self.moto.url, self.region
            )
        self.api.admin["list"] = lambda: [p.state() for p in self.pollers.values()]
        self.api.admin["set"] = self.set_esm_enabled

    def set_esm_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Pause (False) or resume (True) an event source mapping by name or unique suffix."""
        poller = self.pollers.get(name)
        if poller is None:
            found = [p for n, p in self.pollers.items() if n.split(".")[-1] == name]
            if len(found) != 1:
                raise KeyError(name)
            poller = found[0]
        poller.set_enabled(enabled)
        return poller.state()

    def stop(self) -> None:
        for poller in self.pollers.values():
            poller.stop()
        for runtime in self.runtimes.values():
            runtime.shutdown()
        for poller in self.pollers.values():
            if poller.is_alive():
                poller.join(10)
        self.pollers.clear()
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self._fakes.stop()
        self._restore_env()

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
