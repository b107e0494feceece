"""`prediag local ...`: the local stack (start), one-off invocations (invoke), tokens (token),
its event source mappings (esm)."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from prediag_tools import stacks
from prediag_tools.local import demo, logs
from prediag_tools.local.aws import client
from prediag_tools.local.cfn import DEFAULT_REGION, TemplateError
from prediag_tools.local.cognito import Identity, mint_id_token
from prediag_tools.local.demo_clinic import seed_demo_clinic
from prediag_tools.local.esm import mapping_uuid
from prediag_tools.local.moto_server import MotoServer
from prediag_tools.local.provision import provision
from prediag_tools.local.stack import (
    DEFAULT_API_CONCURRENCY,
    DEFAULT_TEMPLATE,
    LocalStack,
    function_env,
    localise_api_urls,
)
from prediag_tools.local.workers import FunctionPool

app = typer.Typer(
    help="Run the template locally: moto on 127.0.0.1, the API, the SQS and stream triggers.",
    no_args_is_help=True,
)

READY_LINE = "prediag local stack ready"
DEMO_OWNER = "owner@example.com"
DEMO_VET = "vet@example.com"
DEMO_CLINIC = "clinic-lyon-01"
LOCAL_LAMBDA = "http://127.0.0.1:3001"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEMO_ADMIN = "admin@example.com"

TemplateOpt = Annotated[
    Path, typer.Option("--template", "-t", help="SAM template to run", exists=True, dir_okay=False)
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Template parameter override KEY=VALUE (repeatable)"),
]
StageOpt = Annotated[str, typer.Option(help="Stage parameter (part of every resource name)")]
RegionOpt = Annotated[str, typer.Option(help="AWS::Region of the emulated resources")]
MotoEndpointOpt = Annotated[
    str | None,
    typer.Option(
        envvar="PREDIAG_ENDPOINT",
        help="moto endpoint of a running local stack (URL, or :PORT)",
        show_default="the running local stack",
    ),
]


def _parse_params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        params[key.strip()] = value
    return params


def _setup_logging(verbose: bool, stream: Any = None) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=stream,
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        logging.getLogger("prediag.local.provision").setLevel(logging.WARNING)


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP stop the stack, whatever their inherited disposition (a
    background job of a script starts with SIGINT ignored). The first one interrupts the main
    thread (KeyboardInterrupt); another one during the stop kills the children at once."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.received: int | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            raise KeyboardInterrupt
        self.stack.kill_children()
        logs.emit("local", f"stopped at once ({signal.Signals(signum).name})")
        raise SystemExit(128 + signum)


@app.command()
def start(
    port: Annotated[int, typer.Option(help="Port of the local API on 127.0.0.1")] = 3000,
    moto_port: Annotated[int, typer.Option(help="Port of the moto server on 127.0.0.1")] = 5005,
    lambda_port: Annotated[
        int, typer.Option(help="Port of the local Lambda API (AWS_ENDPOINT_URL_LAMBDA)")
    ] = 3001,
    simulate_ai: Annotated[
        bool, typer.Option(help="Start the fake AI provider servers and point the SDKs at them")
    ] = False,
    stage: StageOpt = "local",
    region: RegionOpt = DEFAULT_REGION,
    template: TemplateOpt = DEFAULT_TEMPLATE,
    param: ParamOpt = None,
    demo_tokens: Annotated[
        bool, typer.Option(help="Mint demo owner/vet tokens and show them in the banner")
    ] = True,
    demo_record: Annotated[
        bool, typer.Option(help="Seed the demo record the sample events in events/ name")
    ] = True,
    api_concurrency: Annotated[
        int, typer.Option(help="Execution environments per function behind the API")
    ] = DEFAULT_API_CONCURRENCY,
    prewarm: Annotated[
        bool, typer.Option(help="Start one execution environment per function once ready")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start moto, create the template's resources, serve the API and run the triggers."""
    started = time.monotonic()
    stack = LocalStack(
        template,
        parameters=_parse_params(param),
        region=region,
        api_concurrency=api_concurrency,
    )
    signals = _StopSignals(stack)
    signals.install()
    _setup_logging(verbose)
    console = Console(highlight=False)
    code = 0
    recorded: Path | None = None
    try:
        stack.start(
            moto_port=moto_port,
            api_port=port,
            lambda_port=lambda_port,
            simulate_ai=simulate_ai,
            stage=stage,
            seed_demo=demo_record,
        )
        recorded = _record(stack, stage, region, template)  # before the ready line
        ready_s = time.monotonic() - started
        print(
            f"{READY_LINE} in {ready_s:.2f}s: api={stack.api_url} "
            f"lambda={stack.lambda_url} moto={stack.endpoint_url}",
            flush=True,
        )
        if prewarm:
            stack.prewarm()
        stack.ai_providers = stack.probe_ai_providers()
        tokens: dict[str, str] = {}
        if demo_tokens and stack.provisioned and stack.provisioned.user_pools():
            tokens["owner"] = stack.mint_token(DEMO_OWNER)
            tokens["vet"] = stack.mint_token(DEMO_VET, groups=["vets"], clinic_id=DEMO_CLINIC)
            tokens["admin"] = stack.mint_token(DEMO_ADMIN, groups=["admins"])
        _banner(console, stack, tokens, ready_s)
        sys.stdout.flush()
        forever = threading.Event()
        while not forever.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    except (TemplateError, RuntimeError, OSError, ClientError, BotoCoreError) as exc:
        console.print(f"[red]local stack failed:[/red] {exc}")
        code = 1
    finally:
        stacks.forget(recorded)
        stack.stop()
    if signals.received is not None:
        logs.emit("local", f"{signal.Signals(signals.received).name}: stopped")
    with contextlib.suppress(OSError):  # the terminal may have gone away (SIGHUP)
        console.print("local stack stopped")
    if code:
        raise typer.Exit(code)


def _record(stack: LocalStack, stage: str, region: str, template: Path) -> Path:
    """Where this stack is, for the `prediag` commands (.local/stacks/, removed on stop)."""
    try:
        identity: Identity | None = stack.identity()
    except RuntimeError:  # a template without a user pool
        identity = None
    return stacks.record(
        api_url=stack.api_url,
        endpoint_url=stack.endpoint_url,
        lambda_url=stack.lambda_url,
        stage=stage,
        region=region,
        outputs=stack.outputs,
        template=template,
        user_pool_id=identity.user_pool_id if identity else None,
        client_id=identity.client_id if identity else None,
    )


def _banner(console: Console, stack: LocalStack, tokens: dict[str, str], ready_s: float) -> None:
    assert stack.provisioned is not None
    p = stack.provisioned
    table = Table.grid(padding=(0, 2))
    table.add_row("API", stack.api_url)
    table.add_row("Lambda API", f"{stack.lambda_url}  (AWS_ENDPOINT_URL_LAMBDA)")
    table.add_row("console", f"{stack.api_url}/console  (signed-in link below)")
    table.add_row("moto (AWS endpoint)", stack.endpoint_url)
    table.add_row("stage / region", f"{p.stage} / {p.region}")
    table.add_row("API ready in", f"{ready_s:.2f}s")
    for route in p.routes:
        auth = " (Cognito)" if route.authorizer else ""
        table.add_row("route", f"{route.method} {route.path} -> {route.function}{auth}")
    for name, poller in stack.pollers.items():
        config = poller.configuration()
        table.add_row("trigger", f"{name}: {poller.kind} {config['State']} ({config['UUID']})")
    for pool in stack.pools.values():
        table.add_row("function", f"{pool.spec.name}: up to {pool.max_workers} environment(s)")
    active = stack.ai_providers
    if active is None:
        ai = "n/a (no function with AI settings, or prediag.ai could not tell)"
    elif not active:
        ai = "none: triage-only analysis (set OPENAI_API_KEY / ANTHROPIC_API_KEY, or --simulate-ai)"
    elif stack.simulate_ai:
        ai = "SIMULATED models (fake provider servers): " + ", ".join(active)
    else:
        ai = "real: " + ", ".join(active)
    table.add_row("AI providers", ai)
    if stack.demo_record:
        table.add_row("demo record", f"{stack.demo_record} (pending; the sample events name it)")
    console.print(Panel(table, title="prediag local stack", expand=False))
    example = next((f for f in ("request-normal.json",) if (Path("events") / f).exists()), None)
    body = f"@events/{example}" if example else "@request.json"
    lines = []
    if "owner" in tokens:
        lines += [f"export TOKEN={tokens['owner']}", f"export VET_TOKEN={tokens['vet']}"]
    else:
        lines.append("export TOKEN=$(prediag local token --user owner@example.com)")
    if "admin" in tokens:
        lines += [
            "# the console, signed in as a demo admin (the token is in the fragment, never sent):",
            f"{stack.api_url}/console#id_token={tokens['admin']}",
            f"{stack.api_url}/swagger#id_token={tokens['admin']}",
        ]
    lines += [
        f"export AWS_ENDPOINT_URL_LAMBDA={stack.lambda_url}",
        f'curl -s -X POST {stack.api_url}/pre-diagnoses -H "Authorization: $TOKEN" '
        f"-H 'Content-Type: application/json' -d {body}",
        f'curl -s {stack.api_url}/pre-diagnoses/<id> -H "Authorization: $TOKEN"',
    ]
    if stack.demo_record:
        lines += [
            "",
            "# the demo record, through the sample events (sam local invoke, without Docker):",
            ".venv/bin/prediag local invoke submit -e events/api-get-pre-diagnosis.json",
            ".venv/bin/prediag local invoke analyze -e events/sqs-analyze-batch.json",
            f'curl -s {stack.api_url}/pre-diagnoses/{stack.demo_record} -H "Authorization: '
            '$VET_TOKEN"',
        ]
    lines += [
        "",
        "# watch a record until it is done, the queues, the jobs (this stack is found by itself):",
        ".venv/bin/prediag watch <id>",
        ".venv/bin/prediag stats --watch",
        ".venv/bin/prediag jobs --status failed",
        ".venv/bin/prediag local esm list   # the triggers; prediag pause / resume",
    ]
    console.print("\n".join(lines), soft_wrap=True)


@app.command()
def invoke(
    function: Annotated[str, typer.Argument(help="submit | analyze | notify (or logical id)")],
    event: Annotated[
        Path, typer.Option("--event", "-e", help="Event JSON file", exists=True, dir_okay=False)
    ],
    endpoint: MotoEndpointOpt = None,
    fresh: Annotated[
        bool,
        typer.Option(help="Start a fresh moto server with new resources (and the demo record)"),
    ] = False,
    stage: Annotated[
        str | None,
        typer.Option(envvar="PREDIAG_STAGE", help="Stage", show_default="the stack's, or local"),
    ] = None,
    region: RegionOpt = DEFAULT_REGION,
    template: TemplateOpt = DEFAULT_TEMPLATE,
    param: ParamOpt = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            envvar="PREDIAG_API",
            help="Base URL the functions see as the public API",
            show_default="the stack's",
        ),
    ] = None,
    lambda_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Lambda API the function sees (AWS_ENDPOINT_URL_LAMBDA)",
            show_default="the stack's, or " + LOCAL_LAMBDA,
        ),
    ] = None,
) -> None:
    """Invoke one function with an event file (like `sam local invoke`, without Docker).

    The function runs in an execution environment of its own (its template environment, against
    the stack's moto). The response JSON goes to stdout, the function's logs to stderr.
    """
    _setup_logging(False, sys.stderr)
    payload = json.loads(event.read_text(encoding="utf-8"))
    if not fresh:
        found = _find_stack(endpoint=endpoint, api=api_url, stage=stage)
        endpoint, api_url, stage, region = (
            found.endpoint_url,
            found.api_url,
            found.stage,
            found.region,
        )
        lambda_endpoint = lambda_endpoint or found.lambda_url
    params = {"Stage": stage or "local", **_parse_params(param)}
    moto: MotoServer | None = None
    pool: FunctionPool | None = None
    try:
        if fresh:
            moto = MotoServer().start()
            endpoint = moto.url
        assert endpoint is not None
        try:
            provisioned = provision(template, endpoint, params, region=region)
        except (OSError, BotoCoreError) as exc:
            typer.echo(f"error: no moto server at {endpoint} ({exc})", err=True)
            raise typer.Exit(2) from exc
        localise_api_urls(provisioned, api_url or "http://127.0.0.1:3000")
        try:
            spec = provisioned.function(function)
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="FUNCTION") from exc
        if fresh:
            seed_demo_clinic(provisioned)
            demo.seed(provisioned)
        env = function_env(
            provisioned, spec, extra={"AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint or LOCAL_LAMBDA}
        )
        pool = FunctionPool(spec, env, log=logs.to_stderr)
        result = pool.invoke(payload)
        pool.shutdown()  # every log line is written before the response
        out = result.response if result.ok else result.error_payload()
        print(json.dumps(out, indent=2, ensure_ascii=False))
        if not result.ok:
            raise typer.Exit(1)
    finally:
        if pool is not None:
            pool.shutdown()
        if moto is not None:
            moto.stop()


@app.command()
def token(
    user: Annotated[str, typer.Option("--user", "-u", help="E-mail of the user")],
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="vets | admins (repeatable)")
    ] = None,
    clinic: Annotated[str | None, typer.Option(help="custom:clinic_id of the user")] = None,
    endpoint: MotoEndpointOpt = None,
    api: Annotated[
        str | None,
        typer.Option(
            envvar="PREDIAG_API", help="API of the local stack", show_default="the stack's"
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            envvar="PREDIAG_STAGE", help="Stage the stack must have", show_default="the stack's"
        ),
    ] = None,
) -> None:
    """Create/update a user in the local user pool and print an ID token for it."""
    _setup_logging(False)
    found = _find_stack(endpoint=endpoint, api=api, stage=stage)
    if not found.user_pool_id or not found.client_id:
        typer.echo(f"error: the local stack at {found.api_url} has no user pool", err=True)
        raise typer.Exit(2)
    identity = Identity(found.user_pool_id, found.client_id, found.region, found.endpoint_url)
    try:
        print(mint_id_token(identity, user, groups=list(group or []), clinic_id=clinic))
    except (ClientError, BotoCoreError) as exc:
        typer.echo(f"error: cannot mint a token for {user}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _find_stack(
    *, endpoint: str | None = None, api: str | None = None, stage: str | None = None
) -> stacks.StackRecord:
    """The running local stack these options designate, or exit 2 with one line."""
    try:
        return stacks.find(endpoint=endpoint, api=api, stage=stage)
    except stacks.StackNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def esm(
    action: Annotated[str, typer.Argument(help="list | enable | disable")] = "list",
    name: Annotated[
        str | None,
        typer.Argument(help="a mapping's UUID, or its event name in the template (NormalLane)"),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="Lambda API of the local stack (AWS_ENDPOINT_URL_LAMBDA)",
            show_default="the running local stack's",
        ),
    ] = None,
    region: RegionOpt = DEFAULT_REGION,
    as_json: Annotated[bool, typer.Option("--json", help="Print Lambda's JSON")] = False,
) -> None:
    """List, pause (disable) or resume (enable) the event source mappings, through Lambda's
    API (ListEventSourceMappings, UpdateEventSourceMapping) as on AWS."""
    endpoint = endpoint or _find_stack().lambda_url or LOCAL_LAMBDA
    lam = client("lambda", endpoint, region, read_timeout=15)
    try:
        mappings = _all_mappings(lam)
        if action == "list":
            shown = mappings
        elif action in ("enable", "disable") and name:
            target = _find_mapping(mappings, name)
            shown = [lam.update_event_source_mapping(UUID=target, Enabled=action == "enable")]
        else:
            raise typer.BadParameter("use: list | enable NAME | disable NAME")
    except (BotoCoreError, ClientError) as exc:
        typer.echo(f"error: the Lambda API at {endpoint} answered: {exc}", err=True)
        raise typer.Exit(2) from exc
    for mapping in shown:
        mapping.pop("ResponseMetadata", None)
    if as_json:
        print(json.dumps(shown, indent=2, default=str))
        return
    table = Table("UUID", "function", "source", "state", "batch")
    for m in shown:
        table.add_row(
            m["UUID"],
            m["FunctionArn"].rsplit(":", 1)[-1],
            m["EventSourceArn"].rsplit(":", 1)[-1].removeprefix("table/"),
            m["State"],
            str(m.get("BatchSize", "")),
        )
    Console(highlight=False).print(table)


def _all_mappings(lam: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in lam.get_paginator("list_event_source_mappings").paginate():
        found += page.get("EventSourceMappings", [])
    return found


def _find_mapping(mappings: list[dict[str, Any]], name: str) -> str:
    """The UUID of the mapping named by its UUID or by its event name in the template."""
    for mapping in mappings:
        uuid_ = str(mapping["UUID"])
        event = name.rsplit(".", 1)[-1]
        if name == uuid_ or uuid_ == mapping_uuid(mapping["FunctionArn"], event):
            return uuid_
    raise typer.BadParameter(f"no event source mapping {name!r}", param_hint="NAME")
