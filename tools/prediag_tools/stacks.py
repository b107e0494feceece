"""Where the local stacks are: each `prediag local start` (what `make run` runs) records itself
in `.local/stacks/api-<port>.json` of the checkout while it runs, and removes the file when it
stops. The `prediag` commands find their stack there, so a stack on other ports needs no flag.

A record holds the stack's URLs (API, moto, Lambda's API when the stack serves it), stage,
region, the process id, the user pool its API's authorizer trusts, and the stack's outputs
(table, queues...): reading a stack
never provisions anything, so a command with a mistyped stage creates nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = PROJECT_ROOT / ".local" / "stacks"


class StackNotFound(Exception):
    """No running stack matches what the command was given (one line, for the user)."""


@dataclass
class StackRecord:
    api_url: str
    endpoint_url: str
    stage: str
    region: str
    pid: int
    outputs: dict[str, Any] = field(default_factory=dict)
    lambda_url: str | None = None
    template: str | None = None
    user_pool_id: str | None = None
    client_id: str | None = None

    @property
    def path(self) -> Path:
        port = re.sub(r"\D", "", self.api_url.rsplit(":", 1)[-1]) or "0"
        return STATE_DIR / f"api-{port}.json"

    def describe(self) -> str:
        return f"stage {self.stage}: API {self.api_url}, moto {self.endpoint_url}"


def normalise_url(value: str | None) -> str | None:
    """`:5405` or `5405` is http://127.0.0.1:5405; a URL loses its trailing slash."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r":?\d{1,5}", text):
        return f"http://127.0.0.1:{text.lstrip(':')}"
    if not re.match(r"^https?://", text):
        raise StackNotFound(f"{value!r} is not a URL (http://HOST:PORT) or a port (:PORT)")
    return text.rstrip("/")


def record(
    *,
    api_url: str,
    endpoint_url: str,
    stage: str,
    region: str,
    outputs: Mapping[str, Any],
    lambda_url: str | None = None,
    template: str | Path | None = None,
    user_pool_id: str | None = None,
    client_id: str | None = None,
) -> Path:
    """Record this process's stack (called by `prediag local start` once it is ready)."""
    entry = StackRecord(
        api_url=api_url,
        endpoint_url=endpoint_url,
        stage=stage,
        region=region,
        pid=os.getpid(),
        outputs={k: v for k, v in outputs.items() if isinstance(v, str | int | float | bool)},
        lambda_url=lambda_url,
        template=str(template) if template else None,
        user_pool_id=user_pool_id,
        client_id=client_id,
    )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    temporary = entry.path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(entry), indent=2), encoding="utf-8")
    temporary.replace(entry.path)
    return entry.path


def forget(path: Path | None) -> None:
    """Remove a stack's record (when it stops), if it is this process's."""
    if path is None:
        return
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running() -> list[StackRecord]:
    """The recorded stacks whose process still runs (the records of dead ones are removed)."""
    found: list[StackRecord] = []
    if not STATE_DIR.is_dir():
        return found
    for path in sorted(STATE_DIR.glob("api-*.json")):
        try:
            entry = StackRecord(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if _alive(entry.pid):
            found.append(entry)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def find(
    *, endpoint: str | None = None, api: str | None = None, stage: str | None = None
) -> StackRecord:
    """The running local stack the options designate; StackNotFound (one line) otherwise.

    With `endpoint` and/or `api`, the stack at those URLs; with neither, the only one running.
    `stage`, when given, must be that stack's."""
    endpoint, api = normalise_url(endpoint), normalise_url(api)
    stacks = running()
    if endpoint or api:
        matching = [
            s
            for s in stacks
            if (endpoint is None or s.endpoint_url == endpoint)
            and (api is None or s.api_url == api)
        ]
        if not matching:
            where = " and ".join(
                f"{name} {url}" for name, url in (("moto", endpoint), ("API", api)) if url
            )
            known = "; ".join(s.describe() for s in stacks) or "none is running"
            raise StackNotFound(f"no stack with {where} (local stacks: {known})")
        found = matching[0]
    elif not stacks:
        raise StackNotFound(
            "no stack: no local stack is running (start one with `make run`), and no "
            "--stack NAME (or PREDIAG_STACK) names a deployed one"
        )
    elif len(stacks) > 1:
        known = "; ".join(s.describe() for s in stacks)
        raise StackNotFound(
            f"several local stacks run ({known}): pick one with --api or --endpoint"
        )
    else:
        found = stacks[0]
    if stage and stage != found.stage:
        raise StackNotFound(
            f"no stack with stage {stage!r}: the local stack at {found.api_url} is stage "
            f"{found.stage!r}"
        )
    return found
