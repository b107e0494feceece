"""The operators' console in a real headless Chromium, against the local stack (`prediag local
start` in a subprocess, the real template), signed in as the banner's link does it (an ID token
in the URL fragment); and the `prediag` CLI finding that same stack.

The analysis runs one provider, Bedrock, against the fake Bedrock server of tests/fakes: the
tests make it answer 500 (a real fault), then answer normally. A browser that cannot start is
a failure, never a skip. The console's screenshot goes to docs/img/console.png (the README
shows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from prediag import clinics
from prediag.clinic_registry import DynamoClinics
from prediag.clinics import NewClinic
from prediag.errors import ConflictError
from prediag.models import Status
from tests.e2e.conftest import PREDIAG, ROOT, start_on_fake_bedrock, stop_stack_now, wait_for
from tests.fakes import Behaviour, FakeSet

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("healthy_provider"),
]

CHROMIUM = os.environ.get("PREDIAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "img" / "console.png"
EVENTS = ROOT / "events"
FAULT = Behaviour("server_error", status=500)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def stack(fakes: FakeSet) -> Iterator[RunningStack]:
    running = start_on_fake_bedrock(fakes)
    try:
        yield running
    finally:
        stop_stack_now(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, on loopback only. Not starting is a test failure."""
    with sync_playwright() as playwright:
        launched = _launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


def _launch(playwright: Playwright) -> Browser:
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # a failure, never a skip
        pytest.fail(f"headless Chromium ({CHROMIUM}) did not start: {exc}")


@pytest.fixture(scope="module")
def admin_page(browser: Browser, stack: RunningStack) -> Iterator[Page]:
    """The console, opened from the link the banner prints (a demo admin's token)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Refused" in m.text else None,
    )
    token = stack.token("admin-console@example.com", groups=["admins"])
    page.goto(f"{stack.api_url}/console#id_token={token}")
    yield page
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


# ---------------------------------------------------------------------- helpers
def _register(stack: RunningStack, clinic: str) -> None:
    """A case may name only a registered clinic."""
    directory = DynamoClinics(stack.outputs["ClinicsTableName"], stack.aws("dynamodb"))
    with contextlib.suppress(ConflictError):
        clinics.register(directory, NewClinic(clinic_id=clinic, name=f"Clinic {clinic}"))


def _submit(stack: RunningStack, name: str = "request-normal.json", clinic: str = "") -> str:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    body["pet"]["id"] = f"pet-{uuid.uuid4().hex[:8]}"
    if clinic:
        body["clinicId"] = clinic
        _register(stack, clinic)
    with stack.http() as http:
        response = http.post(
            "/pre-diagnoses",
            json=body,
            headers={"Authorization": stack.token("owner-console@example.com")},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _row(page: Page, record_id: str) -> Any:
    return page.locator(f'#jobs-table tbody tr[data-id="{record_id}"]')


def _confirm(page: Page) -> Any:
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    return dialog


def _prediag(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    for name in ("PREDIAG_STACK", "PREDIAG_ENDPOINT", "PREDIAG_API", "PREDIAG_STAGE"):
        env.pop(name, None)
    return subprocess.run(
        [str(PREDIAG), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _port(url: str) -> str:
    return ":" + url.rsplit(":", 1)[-1]


# ---------------------------------------------------------------------- the console, as an admin
def test_the_console_opens_signed_in_from_the_link_and_a_submitted_case_appears(
    admin_page: Page, stack: RunningStack
) -> None:
    page = admin_page
    expect(page.locator("#who")).to_contain_text("admin-console@example.com (admin)")
    assert "id_token" not in page.url  # the token left the address bar at once
    expect(page.locator("#lanes-table tbody tr")).to_have_count(2)
    expect(page.locator('#lanes-table tr[data-lane="urgent"] td[data-count="dead"]')).to_have_text(
        "0"
    )

    job = _submit(stack)

    expect(_row(page, job)).to_be_visible(timeout=15_000)  # the table refreshes by itself
    expect(_row(page, job).locator("td.status")).to_have_text("completed", timeout=15_000)


def test_filtering_to_failed_and_opening_a_failed_job_shows_each_providers_error(
    admin_page: Page, stack: RunningStack, fakes: FakeSet
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)
    stack.until_status(job, Status.FAILED, 30)
    wait_for(lambda: stack.record(job).dead_lettered, 10)
    page = admin_page

    page.select_option("#filters select[name=status]", "failed")
    page.click("#filters button[type=submit]")

    row = _row(page, job)
    expect(row).to_be_visible(timeout=10_000)
    expect(page.locator('#jobs-table tbody tr:not([data-status="failed"])')).to_have_count(0)
    expect(row).to_contain_text("server_error")
    expect(page.locator('#lanes-table tr[data-lane="normal"] td[data-count="dead"]')).to_have_text(
        "1", timeout=10_000
    )

    row.locator("a.job-link").click()
    detail = page.locator("#job")
    expect(detail).to_have_attribute("data-id", job)
    expect(detail.locator("#job-status")).to_have_text("failed")
    attempts = detail.locator(".attempt")
    expect(attempts).to_have_count(3)
    for n in range(3):
        provider = attempts.nth(n).locator('tr[data-provider="bedrock"]')
        expect(provider).to_have_attribute("data-outcome", "server_error")
        expect(provider).to_contain_text("500")
    expect(detail.locator("table.notifications tr[data-kind=failed]")).to_have_count(
        1, timeout=10_000
    )
    expect(detail).to_contain_text("vomiting, lethargy")  # the request's symptoms...
    expect(detail.locator("table.flags")).to_be_visible()  # ...and the triage flags
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_redriving_a_failed_job_previews_it_asks_to_confirm_and_it_completes(
    admin_page: Page, stack: RunningStack
) -> None:
    page = admin_page
    job = page.locator("#job").get_attribute("data-id")
    assert job and stack.record(job).status is Status.FAILED

    page.click("#redrive-one")
    dialog = _confirm(page)
    expect(dialog.locator(f'table.preview tr[data-id="{job}"]')).to_have_attribute(
        "data-action", "would_redrive"
    )
    assert stack.record(job).status is Status.FAILED  # the preview was a dry run
    dialog.locator("#confirm-ok").click()

    expect(page.locator("#toast")).to_contain_text("1 job(s) redriven")
    detail = page.locator("#job")
    expect(detail.locator("#job-status")).to_have_text("completed", timeout=20_000)
    expect(detail.locator(".attempt")).to_have_count(4)
    expect(detail.locator(".attempt").nth(3)).to_have_attribute("data-outcome", "succeeded")
    expect(detail.locator("table.notifications tr[data-kind=completed]")).to_have_count(
        1, timeout=10_000
    )
    record = stack.record(job)
    assert (record.status, record.redrives) == (Status.COMPLETED, 1)


def test_redriving_all_failed_jobs_shows_the_dry_run_first_and_cancel_changes_nothing(
    admin_page: Page, stack: RunningStack, fakes: FakeSet
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)
    stack.until_status(job, Status.FAILED, 30)
    wait_for(lambda: stack.record(job).dead_lettered, 10)
    page = admin_page

    page.click("#redrive-failed")
    dialog = _confirm(page)
    expect(dialog.locator(f'table.preview tr[data-id="{job}"]')).to_be_visible()
    dialog.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    time.sleep(0.5)
    assert stack.record(job).status is Status.FAILED

    fakes.bedrock.set_default(Behaviour("ok"))
    _row(page, job).locator("input[type=checkbox]").check(timeout=10_000)
    page.click("#redrive-selected")
    _confirm(page).locator("#confirm-ok").click()
    stack.until_status(job, Status.COMPLETED, 20)


def test_pausing_and_resuming_a_lane_from_the_console_each_confirmed(
    admin_page: Page, stack: RunningStack
) -> None:
    """Through POST /admin/pause and /admin/resume: Lambda's event source mapping API, which
    the local stack serves (AWS_ENDPOINT_URL_LAMBDA)."""
    page = admin_page
    lane = page.locator('#lanes-table tr[data-lane="normal"]')

    lane.locator('button[data-action="pause"]').click()
    _confirm(page).locator("#confirm-ok").click()
    expect(page.locator("#toast")).not_to_have_class("error")
    expect(lane.locator("td.warn")).to_have_text("paused", timeout=10_000)
    job = _submit(stack)
    time.sleep(3.0)
    assert stack.record(job).status is Status.PENDING
    expect(lane.locator('td[data-count="waiting"]')).to_have_text("1", timeout=10_000)

    lane.locator('button[data-action="resume"]').click()
    _confirm(page).locator("#confirm-ok").click()
    expect(lane.locator("td.ok")).to_have_text("running", timeout=10_000)
    stack.until_status(job, Status.COMPLETED, 20)


# ---------------------------------------------------------------------- vets and owners
def test_a_vet_sees_their_clinics_cases_read_only(browser: Browser, stack: RunningStack) -> None:
    clinic = f"clinic-{uuid.uuid4().hex[:6]}"
    mine, other = _submit(stack, clinic=clinic), _submit(stack)
    token = stack.token(f"vet-{clinic}@example.com", groups=["vets"], clinic=clinic)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.api_url}/console#id_token={token}")

        expect(page.locator("#jobs-title")).to_have_text("Your clinic's cases")
        expect(_row(page, mine)).to_be_visible()
        expect(_row(page, other)).to_have_count(0)
        for hidden in ("#lanes", "#filters", "#job-actions"):
            expect(page.locator(hidden)).to_be_hidden()
        _row(page, mine).locator("a.job-link").click()
        expect(page.locator("#job")).to_have_attribute("data-id", mine)
        expect(page.locator("#job #redrive-one")).to_have_count(0)
    finally:
        context.close()


def test_an_owner_signed_in_gets_no_data_and_the_admin_routes_refuse_their_token(
    browser: Browser, stack: RunningStack
) -> None:
    _submit(stack)
    token = stack.token("owner-console@example.com")
    context = browser.new_context()
    requested: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{stack.api_url}/console#id_token={token}")

        expect(page.locator("#no-access")).to_be_visible()
        for hidden in ("#lanes", "#jobs", "#job"):
            expect(page.locator(hidden)).to_be_hidden()
        page.wait_for_timeout(1000)
        assert [u for u in requested if "/admin/" in u or "/pre-diagnoses" in u] == []
        statuses = page.evaluate(
            """async (token) => Promise.all(
                 ["admin/jobs", "admin/queues", "admin/jobs/x"].map(async (path) =>
                   (await fetch(path, {headers: {Authorization: token}})).status))""",
            token,
        )
        assert statuses == [403, 403, 403]
    finally:
        context.close()


def test_without_a_token_the_console_asks_to_sign_in_and_shows_nothing(
    browser: Browser, stack: RunningStack
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.api_url}/console")
        expect(page.locator("#signed-out")).to_be_visible()
        for hidden in ("#nav", "#lanes", "#jobs"):
            expect(page.locator(hidden)).to_be_hidden()
    finally:
        context.close()


def test_swagger_ui_opens_signed_in_and_try_it_out_sends_the_token(
    browser: Browser, stack: RunningStack
) -> None:
    token = stack.token("admin-swagger@example.com", groups=["admins"])
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.api_url}/swagger#id_token={token}")
        expect(page.locator("#who")).to_contain_text("admin-swagger@example.com")
        operation = page.locator("#operations-admin-listJobs")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        with page.expect_response(lambda r: "/admin/jobs" in r.url) as answer:
            operation.locator("button.execute").click()
        assert answer.value.status == 200
        assert answer.value.request.headers.get("authorization") == token
    finally:
        context.close()


# ---------------------------------------------------------------------- the CLI finds the stack
def test_the_cli_finds_the_stack_by_its_ports_and_a_wrong_stage_creates_nothing(
    stack: RunningStack,
) -> None:
    stats = _prediag("stats", "--json", "--api", _port(stack.api_url))
    assert stats.returncode == 0, stats.stderr
    assert [lane["lane"] for lane in json.loads(stats.stdout)["lanes"]] == ["urgent", "normal"]

    submitted = _prediag(
        "submit", str(EVENTS / "request-normal.json"), "--endpoint", _port(stack.endpoint_url)
    )
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)["id"]
    assert stack.record(job).id == job  # the API of the stack at that endpoint took it

    tables = stack.aws("dynamodb").list_tables()["TableNames"]
    typo = _prediag("stats", "--api", _port(stack.api_url), "--stage", "typo")
    assert typo.returncode == 2
    assert typo.stderr.count("\n") == 1 and "no stack with stage 'typo'" in typo.stderr
    assert stack.aws("dynamodb").list_tables()["TableNames"] == tables

    nowhere = _prediag("token", "--user", "x@example.com", "--endpoint", ":1")
    assert nowhere.returncode == 2
    assert nowhere.stderr.count("\n") == 1 and "no stack with moto" in nowhere.stderr

    listed = _prediag("jobs", "--api", _port(stack.api_url), "--status", "completed", "--json")
    assert listed.returncode == 0, listed.stderr
    assert all(j["status"] == "completed" for j in json.loads(listed.stdout)["items"])


def test_the_cli_speaks_in_one_line_errors_shows_defaults_and_its_version() -> None:
    usage = _prediag("jobs", "--status", "lost")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    assert usage.stderr.startswith("error: ")

    version = _prediag("--version")
    assert version.returncode == 0 and version.stdout.startswith("prediag ")

    helped = _prediag("stats", "--help")
    assert "[default: (the running local stack)]" in " ".join(helped.stdout.split())
    assert Path(SCREENSHOT).suffix == ".png"
