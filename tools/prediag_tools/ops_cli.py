"""`prediag submit | watch | stats | jobs | show | redrive | pause | resume | clean`.

Operating the pipeline, on a local stack or a deployed stack. Every command finds its stack
the same way, first match wins:

1. `--stack NAME` (or PREDIAG_STACK): a deployed stack, read from its CloudFormation outputs
   with your AWS credentials (AWS_PROFILE, AWS_REGION...);
2. `--endpoint` / `--api` (or PREDIAG_ENDPOINT / PREDIAG_API; `:5405` is
   http://127.0.0.1:5405): the local stack at that moto endpoint or API;
3. otherwise the one local stack running from this checkout (`make run` records where it is in
   .local/stacks/; see prediag_tools.stacks).

A local stack is read from its record, never provisioned: a command given a stage or an
endpoint that no running stack has says "no stack ..." and creates nothing. Every command
talks to the AWS APIs directly (admin credentials), except `submit`, which goes through the API
like the app does (a Cognito ID token: `--token`, or minted on the local stack). Pause and
resume call Lambda's event source mapping API: the stack's own (AWS_ENDPOINT_URL_LAMBDA of the
local stack when it serves it), never another stack's.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from prediag.errors import PrediagError
from prediag.locks import LockBusy
from prediag.models import Lane, PreDiagnosis, ProviderOutcome, Status, utcnow
from prediag.repository import DynamoRepository
from prediag_tools import stacks

app = typer.Typer(no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_REGION = "us-east-1"
FOUND = "the running local stack"
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
        help="A deployed CloudFormation stack, by name",
        show_default="none: a local stack",
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar="PREDIAG_ENDPOINT",
        help="moto endpoint of the local stack to act on (URL, or :PORT)",
        show_default=FOUND,
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="PREDIAG_API",
        help="API of the stack to act on (URL, or :PORT locally)",
        show_default="the stack's ApiUrl",
    ),
]
StageOpt = Annotated[
    str | None,
    typer.Option(
        envvar="PREDIAG_STAGE",
        help="Stage the local stack must have (checked, never created)",
        show_default="the stack's",
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        envvar="PREDIAG_REGION",
        help="AWS region of a deployed stack",
        show_default="your AWS config",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
LaneOpt = Annotated[
    list[Lane] | None,
    typer.Option("--lane", help="urgent | normal (repeatable)", show_default="both"),
]


# ---------------------------------------------------------------------- target
@dataclass
class Target:
    """The stack the commands act on: its outputs and how to reach its APIs."""

    outputs: dict[str, Any]
    region: str
    endpoint_url: str | None = None
    api_url: str | None = None
    lambda_url: str | None = None
    user_pool: tuple[str, str] | None = None

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        url = endpoint_url or self.endpoint_url
        if url is not None:
            from prediag_tools.local.aws import client

            return client(service, url, self.region)
        return boto3.session.Session(region_name=self.region).client(service)  # type: ignore[call-overload]

    def topology(self) -> ops.Topology:
        return ops.Topology.from_outputs(self.outputs)

    def repository(self) -> DynamoRepository:
        return DynamoRepository(self.topology().table_name, self.client("dynamodb"))

    def adapters(self) -> ops.Adapters:
        return ops.Adapters.bind(self.topology(), self.client("sqs"), self.client("dynamodb"))

    def esm_control(self) -> ops.EsmControl:
        """Lambda's event source mapping API of this stack (the local stack's own)."""
        if not self.local:
            return ops.EsmControl(self.client("lambda"))
        if not self.lambda_url:
            fail(
                f"the local stack at {self.api_url} does not serve Lambda's event source "
                "mapping API: it cannot be paused or resumed"
            )
        return ops.EsmControl(self.client("lambda", self.lambda_url))


def resolve_target(
    stack: str | None,
    endpoint: str | None,
    api: str | None,
    stage: str | None,
    region: str | None,
) -> Target:
    if stack and endpoint:
        fail("give either --stack (deployed) or --endpoint (local), not both")
    if stack:
        return _deployed(stack, api, region)
    try:
        found = stacks.find(endpoint=endpoint, api=api, stage=stage)
    except stacks.StackNotFound as exc:
        fail(str(exc))
    return Target(
        outputs=dict(found.outputs),
        region=found.region,
        endpoint_url=found.endpoint_url,
        api_url=found.api_url,
        lambda_url=found.lambda_url,
        user_pool=(
            (found.user_pool_id, found.client_id)
            if found.user_pool_id and found.client_id
            else None
        ),
    )


def _deployed(stack: str, api: str | None, region: str | None) -> Target:
    session = boto3.session.Session(region_name=region)
    try:
        found = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        fail(f"no stack: cannot read stack {stack}: {exc}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    return Target(
        outputs=outputs,
        region=session.region_name or DEFAULT_REGION,
        api_url=stacks.normalise_url(api) if api else outputs.get("ApiUrl"),
    )


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2: the command could not do what was asked)."""
    errors.print(f"[red]error:[/red] {' '.join(message.split())}", markup=True)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def local_token(target: Target, user: str, groups: list[str] | None = None) -> str:
    """An ID token of the local stack's user pool for `user` (created if needed)."""
    from prediag_tools.local.cognito import Identity, mint_id_token

    if target.user_pool is None:
        fail(f"the local stack at {target.api_url} has no user pool")
    identity = Identity(*target.user_pool, target.region, str(target.endpoint_url))
    try:
        return mint_id_token(identity, user, groups=groups)
    except (ClientError, BotoCoreError) as exc:
        fail(f"cannot mint a token for {user}: {exc}")


# ---------------------------------------------------------------------- submit / watch
@app.command()
def submit(
    request: Annotated[
        Path, typer.Argument(help="JSON request body (PreDiagnosisRequest)", dir_okay=False)
    ],
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PREDIAG_TOKEN",
            help="Cognito ID token",
            show_default="locally, one minted for --user",
        ),
    ] = None,
    user: Annotated[str, typer.Option(help="Locally: the user a token is minted for")] = (
        "owner@example.com"
    ),
    watch_it: Annotated[bool, typer.Option("--watch", help="Follow it until it is done")] = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Submit a case through the API (POST /pre-diagnoses) and print the 201 answer."""
    target = resolve_target(stack, endpoint, api, stage, region)
    if not target.api_url:
        fail("the API URL is unknown (--api)")
    if token is None:
        if not target.local:
            fail("a deployed stack needs a Cognito ID token (--token or PREDIAG_TOKEN)")
        token = local_token(target, user)
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
        fail(f"{exc.code} {exc.reason}: {exc.read().decode(errors='replace')}")
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
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Follow a pre-diagnosis live (status, attempts, errors) until it is completed or failed.

    Exit code 0 when completed, 1 when failed, 3 on timeout."""
    _watch(resolve_target(stack, endpoint, api, stage, region), record_id, timeout, interval)


def _watch(target: Target, record_id: str, timeout: float, interval: float) -> None:
    repo = target.repository()
    started = time.monotonic()
    record = repo.get(record_id)
    if record is None:
        fail(f"no pre-diagnosis {record_id}")
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
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Print a job as JSON: the whole record and the notifications sent (GET /admin/jobs/ID)."""
    target = resolve_target(stack, endpoint, api, stage, region)
    try:
        job = ops.read_job(target.repository(), record_id)
    except PrediagError:
        fail(f"no pre-diagnosis {record_id}")
    _print_json(job.dump())


# ---------------------------------------------------------------------- stats / jobs
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def _stats_view(result: ops.QueueStats) -> Group:
    table = Table(
        "lane", "waiting", "active", "delayed", "of which retrying", "dead (DLQ)", "oldest",
        "analysis",
    )  # fmt: skip
    for lane in result.lanes:
        state = lane.analysis or "unknown"
        table.add_row(
            lane.lane.value,
            str(lane.waiting),
            str(lane.active),
            str(lane.delayed),
            str(lane.retrying),
            Text(str(lane.dead), style="bold red" if lane.dead else ""),
            _age(lane.oldest_waiting_seconds),
            Text(
                "paused" if state == "Disabled" else "running" if state == "Enabled" else state,
                style="yellow" if state != "Enabled" else "",
            ),
        )
    table.add_row(
        "total",
        str(result.waiting),
        str(result.active),
        str(result.delayed),
        str(sum(lane.retrying for lane in result.lanes)),
        str(result.dead),
        "",
        "",
        style="bold",
    )
    approx = "" if result.retrying_exact else " (retrying counted over the newest 1000 pending)"
    line = Text(
        f"records: pending {result.pending}, processing {result.processing}, "
        f"completed {result.completed}, failed {result.failed}, refused {result.refused}{approx}"
    )
    parts: list[Any] = [table, line]
    if result.analysis_error:
        parts.append(Text(f"analysis state unknown: {result.analysis_error}", style="dim"))
    parts.append(Text(f"at {result.at.isoformat(timespec='seconds')}", style="dim"))
    return Group(*parts)


def _read_stats(target: Target) -> ops.QueueStats:
    result = ops.queue_stats(target.adapters())
    if target.local and not target.lambda_url:
        return result.model_copy(
            update={"analysis_error": "this local stack does not serve Lambda's API"}
        )
    return ops.with_analysis_state(result, target.esm_control(), target.topology())


@app.command()
def stats(
    as_json: JsonOpt = False,
    watch_it: Annotated[
        bool, typer.Option("--watch", help="Refresh until Ctrl-C (live, like the console)")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes (--watch)")] = 2.0,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Per lane: waiting, active, delayed (retrying), dead, the oldest wait and whether the
    analysis is paused; record statuses (GET /admin/queues)."""
    target = resolve_target(stack, endpoint, api, stage, region)
    result = _read_stats(target)
    if as_json:
        _print_json(result.dump())
        return
    if not watch_it:
        console.print(_stats_view(result))
        return
    try:
        with Live(_stats_view(result), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(_stats_view(_read_stats(target)))
    except KeyboardInterrupt:
        pass


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not an ISO date or date-time (2025-01-31, 2025-01-31T08:00Z)")


@app.command()
def jobs(
    status: Annotated[
        Status | None, typer.Option(help="Only jobs in this status", show_default="any")
    ] = None,
    lane: Annotated[
        Lane | None, typer.Option(help="Only jobs of this lane", show_default="any")
    ] = None,
    clinic: Annotated[
        str | None, typer.Option(help="Only this clinic's jobs", show_default="any")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only jobs created at or after this ISO date-time (UTC if no zone)"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page")] = 20,
    cursor: Annotated[
        str | None, typer.Option(help="The next page: the cursor the previous page printed")
    ] = None,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Jobs newest first, with their last error (GET /admin/jobs)."""
    target = resolve_target(stack, endpoint, api, stage, region)
    query = ops.JobQuery(status=status, lane=lane, clinic_id=clinic, since=_since(since))
    try:
        page = ops.list_jobs(target.repository(), query, limit=limit, cursor=cursor)
    except PrediagError as exc:
        fail(str(exc))
    if as_json:
        _print_json(page.dump())
        return
    table = Table(
        Column("id", overflow="fold"),
        "submitted",
        "status",
        "lane",
        "urgency",
        "clinic",
        "attempts",
        "redrives",
        "last error",
    )
    for job in page.items:
        table.add_row(
            job.id,
            job.created_at.isoformat(timespec="seconds"),
            Text(job.status.value, style=STATUS_STYLE.get(job.status.value, "")),
            job.lane.value,
            job.urgency.value,
            job.clinic_id,
            str(job.attempts),
            str(job.redrives),
            (job.last_error or "")[:70],
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}", soft_wrap=True)


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
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Send failed jobs back to their lane (failed -> pending, history kept).

    Exit code 1 when a selected job could not be redriven."""
    target = resolve_target(stack, endpoint, api, stage, region)
    try:
        report = ops.redrive(target.adapters(), lanes=lane, ids=ids, dry_run=dry_run)
    except (ops.OpsError, LockBusy) as exc:
        fail(str(exc))
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
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Remove stale dead letters (their record was redriven, finished, or is gone).

    Pre-diagnosis records are never removed; the notify-failures queue is only counted."""
    target = resolve_target(stack, endpoint, api, stage, region)
    older = None if dead_letters_older_than is None else timedelta(days=dead_letters_older_than)
    try:
        report = ops.clean(target.adapters(), dry_run=dry_run, dead_letters_older_than=older)
    except (ops.OpsError, LockBusy) as exc:
        fail(str(exc))
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
        fail(str(exc))
    except (ClientError, BotoCoreError) as exc:
        fail(f"the trigger could not be changed: {exc}")
    table = Table("lane", "mapping", "state")
    for m in mappings:
        table.add_row(m.lane.value if m.lane else "-", m.id, m.state)
    console.print(table)
    stamp = utcnow().isoformat(timespec="seconds")
    console.print(f"analysis {'resumed' if enabled else 'paused'} at {stamp}")


def _analysis_switch(enabled: bool, help_text: str) -> Callable[..., None]:
    """The command of `pause` (enabled=False) and `resume` (enabled=True)."""

    def command(
        lane: LaneOpt = None,
        wait: Annotated[
            float, typer.Option(help="Seconds to wait for the mappings to settle (AWS)")
        ] = 60.0,
        stack: StackOpt = None,
        endpoint: EndpointOpt = None,
        api: ApiOpt = None,
        stage: StageOpt = None,
        region: RegionOpt = None,
    ) -> None:
        _set_analysis(enabled, lane, wait, resolve_target(stack, endpoint, api, stage, region))

    command.__doc__ = help_text
    return command


pause = app.command("pause")(
    _analysis_switch(
        False, "Stop the analysis (disable its event source mappings); messages wait in the lanes."
    )
)
resume = app.command("resume")(
    _analysis_switch(True, "Start the analysis again (enable its event source mappings).")
)
