"""`prediag submit | watch | stats | jobs | show | redrive | pause | resume | clean`.

Operating the pipeline, on the local stack or a deployed stack:

- local (default): `--endpoint` is the local stack's moto server (http://127.0.0.1:5005) and
  `--api` its API (http://127.0.0.1:3000); the stack's outputs are read back from moto by
  provisioning the template again (idempotent: it adopts what exists), as `prediag local token`
  does. Pause/resume call Lambda's event source mapping API, which the local stack serves.
- deployed: `--stack NAME` reads the outputs of the CloudFormation stack (DescribeStacks) with
  your AWS credentials (AWS_PROFILE, AWS_REGION...). Pause/resume update the analyze
  function's event source mappings.

Every command talks to the AWS APIs directly (admin credentials), except `submit`, which goes
through the API like the app does (a Cognito ID token: `--token`, or minted on the local stack).
Defaults come from PREDIAG_STACK, PREDIAG_ENDPOINT, PREDIAG_API and PREDIAG_TOKEN.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from prediag import ops
from prediag.locks import LockBusy
from prediag.models import Lane, PreDiagnosis, ProviderOutcome, Status, utcnow
from prediag.repository import DynamoRepository

app = typer.Typer(no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

LOCAL_ENDPOINT = "http://127.0.0.1:5005"
LOCAL_API = "http://127.0.0.1:3000"
DEFAULT_REGION = "us-east-1"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STATUS_STYLE = {
    "pending": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "bold red",
    "refused": "dim",
}

StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        envvar="PREDIAG_STACK",
        help="Deployed CloudFormation stack name",
        show_default=False,
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar="PREDIAG_ENDPOINT",
        help=f"moto endpoint of a local stack [default: {LOCAL_ENDPOINT}]",
        show_default=False,
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="PREDIAG_API",
        help=f"API base URL [default: the stack's ApiUrl; locally {LOCAL_API}]",
        show_default=False,
    ),
]
StageOpt = Annotated[str, typer.Option(help="Stage of the local stack")]
RegionOpt = Annotated[
    str | None, typer.Option(help="AWS region [default: your AWS config; locally us-east-1]")
]
TemplateOpt = Annotated[
    Path, typer.Option("--template", "-t", help="SAM template of the local stack", dir_okay=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
LaneOpt = Annotated[
    list[Lane] | None, typer.Option("--lane", help="urgent | normal (repeatable; default both)")
]


# ---------------------------------------------------------------------- target
@dataclass
class Target:
    """The stack the commands act on: its outputs and how to reach its APIs."""

    outputs: dict[str, Any]
    region: str
    endpoint_url: str | None = None
    api_url: str | None = None
    provisioned: Any = None

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str) -> Any:
        if self.endpoint_url is not None:
            from prediag_tools.local.aws import client

            return client(service, self.endpoint_url, self.region)
        return boto3.session.Session(region_name=self.region).client(service)  # type: ignore[call-overload]

    def topology(self) -> ops.Topology:
        return ops.Topology.from_outputs(self.outputs)

    def repository(self) -> DynamoRepository:
        return DynamoRepository(self.topology().table_name, self.client("dynamodb"))

    def adapters(self) -> ops.Adapters:
        return ops.Adapters.bind(self.topology(), self.client("sqs"), self.client("dynamodb"))

    def esm_control(self) -> ops.EsmControl:
        if self.local:
            from prediag_tools.local.aws import client

            return ops.EsmControl(client("lambda", self.lambda_url(), self.region))
        return ops.EsmControl(self.client("lambda"))

    def lambda_url(self) -> str:
        """Where the local stack serves Lambda's event source mapping API."""
        env = self.provisioned.function("AnalyzeFunction").env if self.provisioned else {}
        return str(env.get("AWS_ENDPOINT_URL_LAMBDA") or self.api_url or LOCAL_API)


def resolve_target(
    stack: str | None,
    endpoint: str | None,
    api: str | None,
    stage: str,
    region: str | None,
    template: Path,
) -> Target:
    if stack and endpoint:
        fail("give either --stack (deployed) or --endpoint (local), not both")
    if stack:
        return _deployed(stack, api, region)
    return _local(endpoint or LOCAL_ENDPOINT, api or LOCAL_API, stage, region, template)


def _deployed(stack: str, api: str | None, region: str | None) -> Target:
    session = boto3.session.Session(region_name=region)
    try:
        found = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        fail(f"cannot read stack {stack}: {exc}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    return Target(
        outputs=outputs,
        region=session.region_name or DEFAULT_REGION,
        api_url=api or outputs.get("ApiUrl"),
    )


def _local(endpoint: str, api: str, stage: str, region: str | None, template: Path) -> Target:
    from prediag_tools.local.provision import provision
    from prediag_tools.local.stack import localise_api_urls

    logging.getLogger("prediag.local.provision").setLevel(logging.ERROR)
    region = region or DEFAULT_REGION
    try:
        provisioned = provision(template, endpoint, {"Stage": stage}, region=region)
    except (OSError, BotoCoreError) as exc:
        fail(f"no local stack at {endpoint} ({exc}); start it with `make run`")
    localise_api_urls(provisioned, api)
    return Target(
        outputs=dict(provisioned.outputs),
        region=region,
        endpoint_url=endpoint,
        api_url=api,
        provisioned=provisioned,
    )


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------- submit / watch
@app.command()
def submit(
    request: Annotated[
        Path, typer.Argument(help="JSON request body (PreDiagnosisRequest)", dir_okay=False)
    ],
    token: Annotated[
        str | None,
        typer.Option(envvar="PREDIAG_TOKEN", help="Cognito ID token [locally: minted]"),
    ] = None,
    user: Annotated[str, typer.Option(help="Locally: the user a token is minted for")] = (
        "owner@example.com"
    ),
    watch_it: Annotated[bool, typer.Option("--watch", help="Follow it until it is done")] = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Submit a case through the API (POST /pre-diagnoses) and print the 201 answer."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    if not target.api_url:
        fail("the API URL is unknown (--api)")
    if token is None:
        if not target.local:
            fail("a deployed stack needs a Cognito ID token (--token or PREDIAG_TOKEN)")
        from prediag_tools.local.cognito import mint_id_token
        from prediag_tools.local.stack import identity_of

        token = mint_id_token(identity_of(target.provisioned), user)
    body = request.read_bytes()
    http = urllib.request.Request(  # noqa: S310 - the API URL comes from the stack or the user
        f"{target.api_url.rstrip('/')}/pre-diagnoses",
        data=body,
        method="POST",
        headers={"Authorization": token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(http, timeout=30) as response:  # noqa: S310
            accepted = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        fail(f"{exc.code} {exc.reason}: {exc.read().decode(errors='replace')}", 1)
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach the API at {target.api_url}: {exc}")
    _print_json(accepted)
    if watch_it:
        _watch(target, str(accepted["id"]), timeout=300.0, interval=0.5)


@app.command()
def watch(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Pre-diagnosis id")],
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 300.0,
    interval: Annotated[float, typer.Option(help="Seconds between reads")] = 0.5,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Follow a pre-diagnosis live (status, attempts, errors) until it is completed or failed.

    Exit code 0 when completed, 1 when failed, 3 on timeout."""
    _watch(
        resolve_target(stack, endpoint, api, stage, region, template), record_id, timeout, interval
    )


def _watch(target: Target, record_id: str, timeout: float, interval: float) -> None:
    repo = target.repository()
    started = time.monotonic()
    record = repo.get(record_id)
    if record is None:
        fail(f"no pre-diagnosis {record_id}", 1)
    with Live(_record_view(record, 0.0), console=console, refresh_per_second=8) as live:
        while not record.status.terminal:
            if time.monotonic() - started > timeout:
                live.update(_record_view(record, time.monotonic() - started))
                errors.print(f"still {record.status.value} after {timeout:.0f}s")
                raise typer.Exit(3)
            time.sleep(interval)
            record = repo.get(record_id) or record
            live.update(_record_view(record, time.monotonic() - started))
    raise typer.Exit(0 if record.status is Status.COMPLETED else 1)


def provider_cause(outcome: ProviderOutcome) -> str:
    """One provider's outcome in an attempt, in a line: kind, status or error code, message."""
    if outcome.outcome == "ok":
        return f"{outcome.provider}: ok ({outcome.latency_ms} ms)"
    codes = [str(c) for c in (outcome.status_code, outcome.error_code) if c]
    code = f" {' '.join(codes)}" if codes else ""
    return f"{outcome.provider}: {outcome.outcome}{code} {(outcome.error or '')[:60]}".rstrip()


def _record_view(record: PreDiagnosis, elapsed: float) -> Panel:
    head = Table.grid(padding=(0, 2))
    status = Text(record.status.value, style=STATUS_STYLE.get(record.status.value, ""))
    head.add_row("status", status)
    head.add_row("lane / urgency", f"{record.lane.value} / {record.urgency.value}")
    head.add_row("submitted", record.created_at.isoformat(timespec="seconds"))
    head.add_row("redrives", str(record.redrives))
    if record.failure_reason:
        head.add_row("failure", Text(record.failure_reason, style="red"))
    if record.analysis is not None:
        head.add_row("analysis", f"{record.analysis.method}, degraded={record.analysis.degraded}")
    attempts = Table("attempt", "started", "ended", "outcome", "error", "providers", expand=False)
    for a in record.attempts:
        attempts.add_row(
            str(a.number),
            a.started_at.strftime("%H:%M:%S.%f")[:-3],
            a.ended_at.strftime("%H:%M:%S.%f")[:-3] if a.ended_at else "",
            a.outcome,
            (a.error or "")[:80],
            "\n".join(provider_cause(p) for p in a.providers),
        )
    title = f"{record.id}  ({elapsed:.1f}s)"
    return Panel(Group(head, attempts), title=title, expand=False)


@app.command()
def show(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Pre-diagnosis id")],
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Print a pre-diagnosis record as JSON (the table's copy, read directly)."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    record = target.repository().get(record_id)
    if record is None:
        fail(f"no pre-diagnosis {record_id}", 1)
    _print_json(record.dump())


# ---------------------------------------------------------------------- stats / jobs
@app.command()
def stats(
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Waiting, active, delayed (retrying) and dead jobs per lane; record statuses."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    result = ops.queue_stats(target.adapters())
    if as_json:
        _print_json(result.dump())
        return
    table = Table("lane", "waiting", "active", "delayed", "of which retrying", "dead (DLQ)")
    for lane in result.lanes:
        table.add_row(
            lane.lane.value,
            str(lane.waiting),
            str(lane.active),
            str(lane.delayed),
            str(lane.retrying),
            Text(str(lane.dead), style="bold red" if lane.dead else ""),
        )
    table.add_row(
        "total",
        str(result.waiting),
        str(result.active),
        str(result.delayed),
        str(sum(lane.retrying for lane in result.lanes)),
        str(result.dead),
        style="bold",
    )
    console.print(table)
    approx = "" if result.retrying_exact else " (retrying counted over the newest 1000 pending)"
    console.print(
        f"records: pending {result.pending}, processing {result.processing}, "
        f"completed {result.completed}, failed {result.failed}, refused {result.refused}{approx}"
    )


@app.command()
def jobs(
    status: Annotated[Status, typer.Option(help="Records in this status")] = Status.FAILED,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest N")] = 20,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """The newest pre-diagnoses in a status (failed by default), with their last error."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    found = ops.list_by_status(target.repository(), status, limit=limit)
    if as_json:
        _print_json([r.dump() for r in found])
        return
    table = Table(
        Column("id", overflow="fold"),
        "submitted",
        "lane",
        "urgency",
        "attempts",
        "redrives",
        "reason",
    )
    for r in found:
        last_error = r.failure_reason or (r.attempts[-1].error if r.attempts else None) or ""
        table.add_row(
            r.id,
            r.created_at.isoformat(timespec="seconds"),
            r.lane.value,
            r.urgency.value,
            str(len(r.attempts)),
            str(r.redrives),
            last_error[:70],
        )
    console.print(table)


# ---------------------------------------------------------------------- redrive / clean
@app.command()
def redrive(
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only this pre-diagnosis (repeatable)")
    ] = None,
    lane: LaneOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing")] = False,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Send failed jobs back to their lane (failed -> pending, history kept).

    Exit code 1 when a selected job could not be redriven."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    try:
        report = ops.redrive(target.adapters(), lanes=lane, ids=ids, dry_run=dry_run)
    except (ops.OpsError, LockBusy) as exc:
        fail(str(exc), 1)
    if as_json:
        _print_json(report.dump())
    else:
        table = Table("lane", Column("id", overflow="fold"), "action", "reason")
        for item in report.items:
            style = {"redriven": "green", "would_redrive": "cyan", "error": "red"}.get(
                item.action, ""
            )
            table.add_row(
                item.lane.value if item.lane else "-",
                item.id,
                Text(item.action, style=style),
                item.reason or "",
            )
        console.print(table)
        removed = [i for i in report.letters if i.action == "removed"]
        if removed:
            console.print(f"{len(removed)} obsolete dead letter(s) removed")
        verb = "would redrive" if dry_run else "redriven"
        count = len(report.would_redrive if dry_run else report.redriven)
        console.print(f"{count} job(s) {verb}")
    selected_failed = [i for i in report.items if i.action == "error"] or (
        ids and [i for i in report.items if i.action == "skipped" and i.id in ids]
    )
    if selected_failed:
        raise typer.Exit(1)


@app.command()
def clean(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing")] = False,
    dead_letters_older_than: Annotated[
        float | None,
        typer.Option(
            help="Also remove dead letters of failed jobs older than this many days "
            "(the records stay failed and can still be redriven)",
            min=0,
        ),
    ] = None,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Remove stale dead letters (their record was redriven, finished, or is gone).

    Pre-diagnosis records are never removed; the notify-failures queue is only counted."""
    target = resolve_target(stack, endpoint, api, stage, region, template)
    older = None if dead_letters_older_than is None else timedelta(days=dead_letters_older_than)
    try:
        report = ops.clean(target.adapters(), dry_run=dry_run, dead_letters_older_than=older)
    except (ops.OpsError, LockBusy) as exc:
        fail(str(exc), 1)
    if as_json:
        _print_json(report.dump())
        return
    verb = "would remove" if dry_run else "removed"
    leftovers = report.removed
    if leftovers:
        table = Table("lane", Column("id", overflow="fold"), "reason")
        for item in leftovers:
            table.add_row(item.lane.value, item.id or "-", item.reason or "")
        console.print(table)
    console.print(f"dead letters {verb}: {len(leftovers)}")
    if report.notify_failures:
        console.print(
            f"[yellow]{report.notify_failures} undelivered vet notification(s) in the "
            "notify-failures queue (not removed; see docs/operations.md)[/yellow]"
        )


# ---------------------------------------------------------------------- pause / resume
def _set_analysis(
    enabled: bool,
    lane: list[Lane] | None,
    wait: float,
    target: Target,
) -> None:
    try:
        mappings = ops.set_analysis_enabled(
            target.esm_control(), target.topology(), enabled, lanes=lane, wait_s=wait
        )
    except ops.OpsError as exc:
        fail(str(exc), 1)
    except (ClientError, BotoCoreError) as exc:
        fail(f"the trigger could not be changed: {exc}", 1)
    table = Table("lane", "mapping", "state")
    for m in mappings:
        table.add_row(m.lane.value if m.lane else "-", m.id, m.state)
    console.print(table)
    stamp = utcnow().isoformat(timespec="seconds")
    console.print(f"analysis {'resumed' if enabled else 'paused'} at {stamp}")


@app.command()
def pause(
    lane: LaneOpt = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the mappings to settle (AWS)")
    ] = 60.0,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Stop the analysis (disable its event source mappings); messages wait in the lanes."""
    _set_analysis(False, lane, wait, resolve_target(stack, endpoint, api, stage, region, template))


@app.command()
def resume(
    lane: LaneOpt = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the mappings to settle (AWS)")
    ] = 60.0,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = "local",
    region: RegionOpt = None,
    template: TemplateOpt = DEFAULT_TEMPLATE,
) -> None:
    """Start the analysis again (enable its event source mappings)."""
    _set_analysis(True, lane, wait, resolve_target(stack, endpoint, api, stage, region, template))
