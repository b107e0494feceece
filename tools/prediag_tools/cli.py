"""The `prediag` command: a thin registry of sub-apps, one per area."""

from __future__ import annotations

import typer

from prediag_tools.clinics_cli import app as clinics_app
from prediag_tools.local.cli import app as local_app
from prediag_tools.local.cli import token as local_token
from prediag_tools.ops_cli import app as ops_app

app = typer.Typer(help="prediag developer tooling.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.command("token")(local_token)  # `prediag token` = `prediag local token`
app.add_typer(ops_app)  # submit, watch, stats, jobs, show, redrive, pause, resume, clean
app.add_typer(clinics_app, name="clinics")

if __name__ == "__main__":
    app()
