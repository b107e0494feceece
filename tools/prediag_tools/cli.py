"""The `prediag` command: a thin registry of sub-apps, one per area.

`main()` is the entry point: an error is one line on stderr and exit code 2, whatever raised it
(a usage error, an unreachable endpoint, a missing stack), never a traceback.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from typer._click import exceptions as cli_errors  # typer's own click

from prediag.errors import PrediagError
from prediag_tools.clinics_cli import app as clinics_app
from prediag_tools.local.cfn import TemplateError
from prediag_tools.local.cli import app as local_app
from prediag_tools.local.cli import token as local_token
from prediag_tools.ops_cli import app as ops_app
from prediag_tools.stacks import StackNotFound

app = typer.Typer(
    help="prediag developer tooling.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(local_app, name="local")
app.command("token")(local_token)  # `prediag token` = `prediag local token`
app.add_typer(ops_app)  # submit, watch, stats, jobs, show, redrive, pause, resume, clean
app.add_typer(clinics_app, name="clinics")


def version() -> str:
    try:
        return metadata.version("prediag")
    except metadata.PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"prediag {version()}")
        raise typer.Exit(0)


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit",
        ),
    ] = False,
) -> None:
    """prediag developer tooling: the local stack, and operating a stack."""


ERRORS = (
    BotoCoreError,
    ClientError,
    OSError,
    PrediagError,
    StackNotFound,
    TemplateError,
    ValueError,
    KeyError,
    RuntimeError,
)


def _one_line(message: str) -> None:
    sys.stderr.write(f"error: {' '.join(str(message).split())}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors are one line and exit code 2."""
    try:
        result = app(args=argv, prog_name="prediag", standalone_mode=False)
    except cli_errors.NoArgsIsHelpError as exc:
        exc.show()  # the help, as asked
        return 0
    except cli_errors.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        _one_line(exc.format_message() + hint)
        return 2
    except cli_errors.ClickException as exc:
        _one_line(exc.format_message())
        return 2
    except typer.Abort:
        _one_line("aborted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except ERRORS as exc:
        _one_line(f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc))
        return 2
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
