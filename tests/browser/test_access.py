"""Access control in a real browser, in each mode: a shared password (nothing of any client in
the page before sign-in, on any page or deep link; a wrong password refused and slowed down), a
trusted proxy header (its user's role; no header, no access), and OIDC through ``st.login``
against a real OIDC provider on loopback (an admin and a viewer; the viewer's deleting,
activating and importing refused with the role named)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import oidc_provider_mock
import pytest
from playwright.sync_api import Browser, Page, expect

from coach.persistence import DatabaseInterface
from coach.persistence.records import PromptVersion
from coach.sessions.bundles import export_session
from tests.browser.helpers import READY_TIMEOUT_MS, AppServer, no_exception, wait_ready

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
PAGES = ["/", "/coach", "/sessions", "/inspector", "/prompts", "/compare", "/evals", "/admin"]


def goto(page: Page, url: str) -> None:
    page.goto(url)
    wait_ready(page)
    no_exception(page)


def nothing_of_the_demo(page: Page, server: AppServer) -> None:
    html = page.content()
    for secret in ("Maya", server.demo.session_id, server.demo.user_id):
        assert secret not in html, f"{secret!r} is in the page before sign-in: {page.url}"


def sign_in_with_password(page: Page, password: str, name: str = "Kim") -> float:
    """Submit the sign-in form; seconds until the app answered."""
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    started = time.monotonic()
    page.get_by_role("button", name="Sign in").click()
    wait_ready(page)
    return time.monotonic() - started


# -- password ------------------------------------------------------------------------------------


def test_password_mode_shows_nothing_before_sign_in_and_slows_down_failures(
    new_app_server: Callable[..., AppServer], page: Page
) -> None:
    server = new_app_server(access_mode="password", access_password=PASSWORD)
    demo = server.demo
    for path in PAGES:
        for query in ("", f"?session_id={demo.session_id}&user_id={demo.user_id}&tab=Turns"):
            goto(page, server.url + path + query)
            expect(page.get_by_label("Password", exact=True)).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            nothing_of_the_demo(page, server)

    goto(page, f"{server.url}/inspector?session_id={demo.session_id}")
    first = sign_in_with_password(page, "wrong")
    expect(page.get_by_test_id("stAlert")).to_contain_text("Wrong password")
    nothing_of_the_demo(page, server)
    second = sign_in_with_password(page, "wrong again")
    expect(page.get_by_test_id("stAlert")).to_contain_text("Wrong password")
    third = sign_in_with_password(page, "still wrong")
    # The second try waits 1 s before it is checked, the third 2 s (the first none).
    assert second >= 1.0 and third >= 2.0, (first, second, third)
    nothing_of_the_demo(page, server)

    sign_in_with_password(page, PASSWORD)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Signed in as Kim (coach, password)", timeout=10_000)
    # Signed in for this browser session: a reload asks again (see the README).
    page.get_by_test_id("stSidebarNav").get_by_text("Sessions").click()
    wait_ready(page)
    expect(page.get_by_test_id("stMain")).to_contain_text("Maya")

    page.get_by_role("button", name="Sign out").click()
    wait_ready(page)
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    nothing_of_the_demo(page, server)


# -- trusted header ------------------------------------------------------------------------------


def test_header_mode_gives_the_named_user_their_role_and_no_header_no_access(
    new_app_server: Callable[..., AppServer], browser: Browser
) -> None:
    server = new_app_server(
        access_mode="header",
        access_roles=json.dumps({"ana@example.org": "admin"}),
        access_default_role="viewer",
    )
    demo_link = f"{server.url}/inspector?session_id={server.demo.session_id}"
    for email, role in (("ana@example.org", "admin"), ("vic@example.org", "viewer")):
        context = browser.new_context(extra_http_headers={"X-Forwarded-Email": email})
        page = context.new_page()
        goto(page, demo_link)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(
            f"Signed in as {email} ({role}, header)"
        )
        expect(page.get_by_test_id("stMain")).to_contain_text("of Maya")
        context.close()

    context = browser.new_context()
    page = context.new_page()
    goto(page, demo_link)
    expect(page.get_by_test_id("stAlert")).to_contain_text("No access")
    expect(page.get_by_test_id("stAlert")).to_contain_text("X-Forwarded-Email")
    nothing_of_the_demo(page, server)
    context.close()


# -- OIDC ----------------------------------------------------------------------------------------


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """A real OIDC provider on loopback; its issuer URL. Users are added with ``add_user``."""
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def add_user(issuer: str, email: str, groups: list[str]) -> None:
    request = urllib.request.Request(
        f"{issuer}/users/{quote(email, safe='')}",
        method="PUT",
        data=json.dumps({"email": email, "groups": groups}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204


@pytest.fixture
def oidc_app(
    oidc_provider: str,
    new_app_server: Callable[..., AppServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AppServer:
    """The app signing in through ``st.login`` against the provider: the admins group are
    admins; anyone else a viewer."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-cookie-secret-for-the-tests-0123456789abcdef"\n'
        'client_id = "coach"\n'
        'client_secret = "coach-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets))
    add_user(oidc_provider, "ana@example.org", ["admins"])
    add_user(oidc_provider, "vic@example.org", ["readers"])
    return new_app_server(
        access_mode="oidc",
        access_roles=json.dumps({"admins": "admin"}),
        access_default_role="viewer",
    )


def sign_in_with_oidc(page: Page, server: AppServer, email: str, path: str = "/") -> None:
    goto(page, server.url + path)
    nothing_of_the_demo(page, server)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^http://localhost:\d+/oauth2/authorize"))
    page.locator('input[name="sub"]').fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(server.url)))
    wait_ready(page)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(
        f"Signed in as {email}", timeout=READY_TIMEOUT_MS
    )
    no_exception(page)


async def add_persona_version(db: DatabaseInterface) -> PromptVersion:
    first = await db.get_prompt_version("persona", 1)
    assert first is not None
    return await db.add_prompt_version(
        first.model_copy(update={"version": None, "body": first.body + "\nBe brief.\n"})
    )


def refused(page: Page, role: str) -> None:
    expect(page.get_by_test_id("stAlert").filter(has_text=f"needs the {role} role")).to_be_visible()


def test_oidc_admin_and_viewer_get_their_roles_and_the_viewer_is_refused_changes(
    oidc_app: AppServer, browser: Browser, tmp_path: Path
) -> None:
    server, demo = oidc_app, oidc_app.demo
    admin = browser.new_context().new_page()
    sign_in_with_oidc(admin, server, "ana@example.org")
    expect(admin.get_by_test_id("stSidebar")).to_contain_text("(admin, oidc)")

    viewer = browser.new_context().new_page()
    sign_in_with_oidc(viewer, server, "vic@example.org")
    expect(viewer.get_by_test_id("stSidebar")).to_contain_text("(viewer, oidc)")
    goto(viewer, f"{server.url}/sessions")
    expect(viewer.get_by_test_id("stMain")).to_contain_text("Sessions")

    # Delete: the inspector's button, confirmed.
    goto(viewer, f"{server.url}/inspector?session_id={demo.session_id}")
    expect(viewer.get_by_test_id("stMain")).to_contain_text("of Maya")
    viewer.get_by_test_id("stExpander").filter(has_text="Delete").get_by_text(
        "Delete"
    ).first.click()
    viewer.get_by_text("Delete this session:").click()
    wait_ready(viewer)
    viewer.get_by_role("button", name="Delete session").click()
    wait_ready(viewer)
    refused(viewer, "admin")

    # Activate a prompt version (a second one of the persona, the part the page opens on).
    server.db_call(add_persona_version)
    goto(viewer, f"{server.url}/prompts?part=persona")
    viewer.get_by_role("tab", name=re.compile("Activate")).click()
    viewer.get_by_text("Yes: new turns of every session").click()
    wait_ready(viewer)
    viewer.get_by_role("button", name=re.compile(r"^Activate version")).click()
    wait_ready(viewer)
    expect(viewer.get_by_test_id("stMain")).to_contain_text("needs the admin role")

    # Import a bundle.
    bundle = tmp_path / "bundle.json"
    bundle.write_text(server.db_call(lambda db: export_session(db, demo.session_id)).to_json())
    goto(viewer, f"{server.url}/sessions")
    viewer.get_by_text("Import a bundle").click()
    viewer.locator("input[type=file]").set_input_files(str(bundle))
    wait_ready(viewer)
    viewer.get_by_role("button", name="Import").click()
    wait_ready(viewer)
    refused(viewer, "admin")

    assert server.db_call(lambda db: db.get_session(demo.session_id)) is not None

    # The admin may: the session goes.
    goto(admin, f"{server.url}/inspector?session_id={demo.session_id}")
    admin.get_by_test_id("stExpander").filter(has_text="Delete").get_by_text("Delete").first.click()
    admin.get_by_text("Delete this session:").click()
    wait_ready(admin)
    admin.get_by_role("button", name="Delete session").click()
    wait_ready(admin)
    expect(admin.get_by_test_id("stMain")).to_contain_text("was deleted")
    assert server.db_call(lambda db: db.get_session(demo.session_id)) is None

    entries = server.db_call(lambda db: db.list_audit_entries(limit=50)).items
    seen = {(e.actor, e.action, e.outcome) for e in entries}
    assert {
        ("ana@example.org", "sign_in", "ok"),
        ("vic@example.org", "sign_in", "ok"),
        ("vic@example.org", "delete_session", "refused"),
        ("vic@example.org", "activate_prompt", "refused"),
        ("vic@example.org", "import_bundle", "refused"),
        ("ana@example.org", "delete_session", "ok"),
    } <= seen
