"""Browser fixtures: the real app under ``streamlit run``, driven by Playwright and the system
Chromium.

One app server runs for the whole test session (Streamlit and Chromium are heavy on two shared
cores). It gets a fresh SQLite file holding the demo session, and a model: the OpenAI provider
of the real SDK pointed at a fake OpenAI-compatible server running in this process
(``devtools/fake_openai.py``), so tests queue the model's replies (``app_server.llm``).
The ``llm`` fixture gives each test that server with an empty queue and the default reply.
A test that kills the app, or needs other settings, starts one of its own (``new_app_server``).

Chromium is Debian's (``make browser``); Playwright cannot download its own here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from coach.demo import play_demo
from devtools import serve
from devtools.fake_openai import FakeOpenAIServer
from tests.browser.helpers import (
    VIEWPORT,
    AppProcess,
    AppServer,
    Demo,
    no_exception,
    run_on_database,
    wait_ready,
)

#: Tests that must meet a server nobody has visited yet run first among the browser tests, and
#: the screenshots next (so they show the demo data only).
FIRST = ("test_a_deep_link_on_a_fresh_server_goes_through_the_router",)
SECOND_MODULE = "test_screenshots.py"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last, in the order above.

    Last, because Playwright's sync API marks its event loop as running on the main thread from
    the first browser test to the end of the session, and an async test after that fails with
    "Runner.run() cannot be called from a running event loop". ``make test`` also runs them in
    a pytest process of their own.
    """

    def rank(item: pytest.Item) -> int:
        if getattr(item, "originalname", item.name) in FIRST:
            return 0
        return 1 if item.path.name == SECOND_MODULE else 2

    browser = [item for item in items if item.get_closest_marker("browser")]
    if browser:
        others = [item for item in items if not item.get_closest_marker("browser")]
        items[:] = others + sorted(browser, key=rank)  # stable: otherwise as collected


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.access(serve.CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {serve.CHROMIUM}: run `make browser`")
    return {
        **browser_type_launch_args,
        "executable_path": str(serve.CHROMIUM),
        "args": serve.CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


def app_environment(database_url: str, llm: FakeOpenAIServer, **settings: str) -> dict[str, str]:
    """This process's environment without any ``COACH_*`` setting, plus the app's settings
    (``settings``: more of them, or others, by their name without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(
        COACH_DATABASE_URL=database_url,
        COACH_LLM_PROVIDER="openai",
        COACH_OPENAI_API_KEY="test-key",
        COACH_OPENAI_BASE_URL=llm.base_url,
        COACH_LLM_MAX_RETRIES="0",
        COACH_LLM_TIMEOUT_S="30",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"COACH_{name.upper()}": value for name, value in settings.items()})
    return env


@contextlib.contextmanager
def serve_app(
    folder: Path, *, database_url: str | None = None, **settings: str
) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port, with a fake model server of its own, its log in
    ``folder`` (``settings``: see ``app_environment``). Its database is ``database_url`` (one
    that other app processes share), else a new SQLite file in ``folder``; either gets a demo
    session of its own first."""
    database_url = database_url or f"sqlite:///{folder / 'coach.db'}"
    info = run_on_database(database_url, play_demo)
    with FakeOpenAIServer() as llm:
        process = AppProcess(
            port=serve.free_port(),
            env=app_environment(database_url, llm, **settings),
            log=folder / "streamlit.log",
        )
        try:
            try:
                process.start()
            except RuntimeError as e:
                pytest.fail(str(e))
            yield AppServer(
                process=process,
                database_url=database_url,
                llm=llm,
                demo=Demo(user_id=info.user_id, session_id=info.session_id),
            )
        finally:
            process.stop()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app server the browser tests share."""
    with serve_app(tmp_path_factory.mktemp("browser_app")) as server:
        yield server


@pytest.fixture
def new_app_server(tmp_path: Path) -> Iterator[Callable[..., AppServer]]:
    """Start an app server of this test's own, as ``app_server`` is started, with these
    settings (``new_app_server(llm_timeout_s="300")``, ``database_url``: see ``serve_app``): for
    a test that kills the app or needs other settings. The test may kill its process and start
    it again (``AppServer.process``); it is stopped at the end of the test."""
    numbers = itertools.count(1)
    with contextlib.ExitStack() as stack:

        def start(*, database_url: str | None = None, **settings: str) -> AppServer:
            folder = tmp_path / f"app{next(numbers)}"
            folder.mkdir()
            return stack.enter_context(serve_app(folder, database_url=database_url, **settings))

        yield start


@pytest.fixture
def llm(app_server: AppServer) -> Iterator[FakeOpenAIServer]:
    """The app's model server, with nothing queued and the default reply."""
    server = app_server.llm
    server.reset()
    yield server
    server.reset()


SCREENSHOTS_ENV = "COACH_TEST_SCREENSHOTS_DIR"


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder named by ``$COACH_TEST_SCREENSHOTS_DIR``, else a new temporary one."""
    named = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shoot(page: Page, shots: Path) -> Callable[[str], None]:
    """Wait until the page is ready and error-free, then save it as ``<name>.png``."""

    def save(name: str) -> None:
        wait_ready(page)
        no_exception(page)
        path = shots / f"{name}.png"
        page.screenshot(path=path, animations="disabled", caret="hide")
        assert path.read_bytes().startswith(b"\x89PNG"), f"{path} is no PNG"

    return save
