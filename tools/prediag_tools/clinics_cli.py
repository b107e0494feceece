"""`prediag clinics list | show | add | rename | deactivate | activate`.

The registered clinics, on the local stack or a deployed stack (`--stack`), through the same use
cases as the admin API's /admin/clinics routes (prediag.clinics). A case may name a clinic only
once it is registered and active; a clinic is never deleted, it is deactivated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from prediag import clinics
from prediag.clinic_registry import DynamoClinics
from prediag.clinics import Clinic, ClinicChange, NewClinic
from prediag.errors import ConflictError, NotFoundError
from prediag_tools.ops_cli import (
    ApiOpt,
    EndpointOpt,
    JsonOpt,
    RegionOpt,
    StackOpt,
    StageOpt,
    Target,
    _print_json,
    console,
    fail,
    resolve_target,
)

app = typer.Typer(
    help="The registered clinics: a case may name a clinic only once it is registered.",
    no_args_is_help=True,
)

ClinicArg = Annotated[str, typer.Argument(metavar="CLINIC_ID", help="The clinic's id")]


def _directory(target: Target) -> DynamoClinics:
    table = target.outputs.get("ClinicsTableName")
    if not table:
        fail("the stack has no output ClinicsTableName (a stack from before clinics?)")
    return DynamoClinics(str(table), target.client("dynamodb"))


def _target(
    stack: str | None,
    endpoint: str | None,
    api: str | None,
    stage: str | None,
    region: str | None,
) -> DynamoClinics:
    return _directory(resolve_target(stack, endpoint, api, stage, region))


def _state(active: bool) -> Text:
    return Text("active", style="green") if active else Text("inactive", style="red")


def _show(clinic: Clinic, as_json: bool) -> None:
    if as_json:
        _print_json(clinic.dump())
        return
    console.print(Text.assemble(clinic.clinic_id, "  ", clinic.name, "  ", _state(clinic.active)))


def _change(directory: DynamoClinics, clinic_id: str, what: dict[str, object]) -> Clinic:
    try:
        return clinics.change(directory, clinic_id, ClinicChange.model_validate(what))
    except ValidationError as exc:
        fail(f"invalid: {exc.errors()[0]['msg']}")
    except NotFoundError as exc:
        fail(str(exc), 1)
    except (ClientError, BotoCoreError) as exc:
        fail(f"the clinics table could not be changed: {exc}", 1)


@app.command("list")
def list_clinics(
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Every registered clinic."""
    found = clinics.listing(_target(stack, endpoint, api, stage, region))
    if as_json:
        _print_json(found.dump())
        return
    table = Table("clinic", "name", "state", "registered")
    for c in found.items:
        table.add_row(
            c.clinic_id, c.name, _state(c.active), c.created_at.isoformat(timespec="seconds")
        )
    console.print(table)


@app.command()
def show(
    clinic_id: ClinicArg,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """One clinic (exit code 1 when it is not registered)."""
    try:
        clinic = clinics.get(_target(stack, endpoint, api, stage, region), clinic_id)
    except NotFoundError as exc:
        fail(str(exc), 1)
    _show(clinic, as_json)


@app.command()
def add(
    clinic_id: ClinicArg,
    name: Annotated[str, typer.Option(help="The clinic's name, for people")],
    inactive: Annotated[
        bool, typer.Option("--inactive", help="Register it inactive (takes no case yet)")
    ] = False,
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Register a clinic (exit code 1 when its id is already registered)."""
    try:
        new = NewClinic(clinic_id=clinic_id, name=name, active=not inactive)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    directory = _target(stack, endpoint, api, stage, region)
    try:
        clinic = clinics.register(directory, new)
    except ConflictError as exc:
        fail(str(exc), 1)
    except (ClientError, BotoCoreError) as exc:
        fail(f"the clinics table could not be changed: {exc}", 1)
    _show(clinic, as_json)


@app.command()
def rename(
    clinic_id: ClinicArg,
    name: Annotated[str, typer.Option(help="The clinic's new name")],
    as_json: JsonOpt = False,
    stack: StackOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    stage: StageOpt = None,
    region: RegionOpt = None,
) -> None:
    """Give a clinic another name."""
    directory = _target(stack, endpoint, api, stage, region)
    _show(_change(directory, clinic_id, {"name": name}), as_json)


def _activation(active: bool, help_text: str) -> Callable[..., None]:
    """The command of `deactivate` (active=False) and `activate` (active=True)."""

    def command(
        clinic_id: ClinicArg,
        as_json: JsonOpt = False,
        stack: StackOpt = None,
        endpoint: EndpointOpt = None,
        api: ApiOpt = None,
        stage: StageOpt = None,
        region: RegionOpt = None,
    ) -> None:
        directory = _target(stack, endpoint, api, stage, region)
        _show(_change(directory, clinic_id, {"active": active}), as_json)

    command.__doc__ = help_text
    return command


deactivate = app.command("deactivate")(
    _activation(
        False,
        "Stop a clinic taking cases; its vets see none of its records until it is active again.",
    )
)
activate = app.command("activate")(_activation(True, "Let a clinic take cases again."))
