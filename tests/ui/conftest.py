"""The web page in Debian's headless Chromium, with a fake microphone that speaks a Piper WAV."""

from __future__ import annotations

import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import serve_app
from tests.server.wire import loopback_settings
from voxgate.audio import SAMPLE_RATE, resample
from voxgate.server.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
QUESTION = "What is the capital of France?"
LEAD_S = 3.0  # silence before the question: time to connect (and, in some tests, to mute)
TAIL_S = 40.0  # Chromium loops the file: the question comes back only after this


def _in_ci() -> bool:
    return bool(os.environ.get("VOXGATE_CI") or os.environ.get("CI"))


@pytest.fixture(scope="session")
def mic_wav(speech, tmp_path_factory) -> Path:
    """The fake microphone: silence, the question (Piper), then long silence; 48 kHz mono."""
    pcm = (
        bytes(int(SAMPLE_RATE * LEAD_S) * 2)
        + speech(QUESTION)
        + bytes(int(SAMPLE_RATE * TAIL_S) * 2)
    )
    path = tmp_path_factory.mktemp("mic") / "question.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(resample(pcm, SAMPLE_RATE, 48000))
    return path


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skipped outside CI when it is not installed, a failure in CI."""
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(
                "/usr/bin/chromium is missing in CI: .ci/run installs it (apt-get chromium)"
            )
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session")
async def browser(chromium, mic_wav) -> AsyncIterator[object]:
    """Headless Debian Chromium (never Playwright's own download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic_wav}",
            ],
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest_asyncio.fixture(scope="session")
async def loopback_url() -> AsyncIterator[str]:
    """A loopback server (no models: a typed turn's reply echoes it) with a store of its own."""
    async with serve_app(create_app(loopback_settings())) as port:
        yield f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def open_loopback(browser, loopback_url, artifacts, request) -> AsyncIterator:
    """Open the page on the loopback server with a transport, or at ``url`` (a copied link);
    each page in a browser context of its own (``context_args``: a viewport, a colour scheme)."""
    from tests.ui.test_page import Page  # (a test module: not imported before pytest collects)

    contexts = []

    async def open_(transport: str | None = None, *, url: str | None = None, **context_args):
        context = await browser.new_context(**context_args)
        contexts.append(context)
        name = request.node.name.replace("[", "-").rstrip("]") + f"-{len(contexts)}"
        page = Page(await context.new_page(), name, artifacts)
        await page.goto(
            url or f"{loopback_url}/" + (f"?transport={transport}" if transport else "")
        )
        await page.wait_for_selector("body[data-ready='true']")
        return page

    yield open_
    for context in contexts:
        await context.close()
