"""One Airflow for the whole browser suite: the emulator, Airflow's four services on loopback, the
export example DAG triggered once, and Debian's chromium driven by Playwright.

Screenshots land in tests/ui/artifacts/; with ``AEP_WRITE_SCREENSHOTS=1`` (``make screenshots``)
the README's two are also copied to docs/images/.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from tests.ui.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EXPORT_DAG,
    TEMPLATED_DAG,
    AirflowStack,
    ui_stack,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).with_name("artifacts")
DOCS_IMAGES = ROOT / "docs" / "images"
EXPORT_RUN = "ui-export"
TEMPLATED_RUN = "ui-templated-credentials"
SENSOR = "wait_for_export_run"
VIEWPORT = {"width": 1400, "height": 900}


def _no_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (
            f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium): UI tests skipped"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (the dev extra): UI tests skipped"
    return None


@pytest.fixture(scope="package")
def ui_emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    if reason := _no_browser():
        pytest.skip(reason)
    # Runs last an hour until a test lets them finish: the sensor is seen deferred first.
    config = EmulatorConfig(
        exports_dir=tmp_path_factory.mktemp("ui-exports"), first_run_delay=1.0, run_duration=3600.0
    )
    with running_emulator(config) as running:
        yield running


@pytest.fixture(scope="package")
def stack(tmp_path_factory, ui_emulator) -> Iterator[AirflowStack]:
    """Airflow's api-server, scheduler, dag-processor and triggerer, with both DAGs triggered."""
    airflow = ui_stack(tmp_path_factory.mktemp("ui-airflow"), ui_emulator)
    try:
        airflow.start()
        airflow.trigger(EXPORT_DAG, EXPORT_RUN)
        airflow.trigger(TEMPLATED_DAG, TEMPLATED_RUN)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="package")
def deferred_export(stack) -> str:
    """The export run while its sensor waits in the triggerer (tests that need this come first)."""

    def deferred() -> bool:
        stack.check_alive()
        state = stack.task_state(EXPORT_DAG, EXPORT_RUN, SENSOR)
        assert state not in ("success", "failed", "up_for_retry"), f"the sensor is {state}, not waiting"
        return state == "deferred"

    wait_for("the sensor to defer", deferred, timeout=150)
    return EXPORT_RUN


@pytest.fixture(scope="package")
def finished_export(stack, deferred_export, ui_emulator) -> str:
    """The export run after its AEP run was let finish."""
    state = ui_emulator.emulator.state
    with state.lock:
        for meta in state.data["meta"]["runs"].values():
            meta["complete_at"] = min(meta.get("complete_at", 0), time.time())
    assert stack.wait_for_run(EXPORT_DAG, EXPORT_RUN) == "success", stack.task_states(EXPORT_DAG, EXPORT_RUN)
    return EXPORT_RUN


@pytest.fixture(scope="package")
def finished_templated(stack) -> str:
    assert stack.wait_for_run(TEMPLATED_DAG, TEMPLATED_RUN) == "success", stack.task_states(
        TEMPLATED_DAG, TEMPLATED_RUN
    )
    return TEMPLATED_RUN


@pytest.fixture(scope="package")
def browser(stack) -> Iterator[Any]:
    """Debian's chromium (never a downloaded browser) with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="aep-ui-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT
        )
        context.set_default_timeout(20_000)
        signed_in(context, stack, "admin")
        try:
            yield context
        finally:
            context.close()


def signed_in(context: Any, stack: AirflowStack, user: str) -> None:
    """The browser carries ``user``'s token in the cookie the Airflow UI reads it from."""
    context.clear_cookies()
    context.add_cookies([{"name": "_token", "value": stack.token(user), "url": stack.url}])


@pytest.fixture
def page(browser, stack) -> Iterator[Any]:
    page = browser.new_page()
    page.set_viewport_size(VIEWPORT)
    try:
        yield page
    finally:
        page.close()


def open_page(page: Any, stack: AirflowStack, path: str) -> None:
    page.goto(stack.url + path)
    page.wait_for_load_state("networkidle")


def screenshot(what: Any, name: str, *, docs: str | None = None) -> Path:
    """Save a page or an element as ``name``.png among the test artifacts; with
    AEP_WRITE_SCREENSHOTS=1 also as docs/images/``docs``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    what.screenshot(path=str(path))
    if docs and os.environ.get("AEP_WRITE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / docs)
    return path


def side_by_side(page: Any, images: list[Path], name: str, *, docs: str | None = None) -> Path:
    """One picture of several screenshots next to each other (the browser lays them out)."""
    cells = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in images
    )
    page.set_content(
        '<body style="margin:0;background:#e2e8f0"><div id="all" style="display:inline-flex;'
        f'gap:16px;padding:16px;align-items:flex-start">{cells}</div></body>'
    )
    return screenshot(page.locator("#all"), name, docs=docs)
