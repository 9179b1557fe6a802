"""Signing in, in the app: the gate ``app.py`` passes before any page runs, who is signed in,
and the ``Workbench`` the pages act through.

Four modes (``COACH_ACCESS_MODE``): ``off`` (everyone is a local admin), ``password`` (a
shared password; repeated failures from one address are slowed down), ``header`` (a trusted
reverse proxy names the user in ``COACH_ACCESS_HEADER``) and ``oidc`` (``st.login`` with the
``[auth]`` secrets). Until someone is signed in, the gate stops the script before any page
runs, so nothing of any client reaches the browser. Roles come from ``COACH_ACCESS_ROLES``
(by e-mail or OIDC group) or ``COACH_ACCESS_DEFAULT_ROLE``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import streamlit as st

from coach.access.roles import Action, Actor, Role
from coach.access.signin import SignInThrottle, password_matches, role_for
from coach.access.workbench import Outcome, Workbench, write_audit
from ui.app_runtime import AppRuntime, get_runtime, read_secrets
from ui.render import escape_markdown
from ui.routing import require_router

ACTOR_KEY = "access_actor"
#: The name whose sign-in this browser session has audited already.
AUDITED_KEY = "access_audited"


def signed_in(runtime: AppRuntime) -> Actor | None:
    """Who is signed in; ``None`` after showing how to sign in (then no page may run)."""
    mode = runtime.settings.access_mode
    if mode == "off":
        actor: Actor | None = Actor.local()
    elif mode == "header":
        actor = _from_header(runtime)
    elif mode == "oidc":
        actor = _from_oidc(runtime)
    else:
        actor = st.session_state.get(ACTOR_KEY) or _password_form(runtime)
    if actor is None:
        st.session_state.pop(ACTOR_KEY, None)
        return None
    st.session_state[ACTOR_KEY] = actor
    if mode != "off":
        _signed_in_sidebar(actor)
    return actor


def page_runtime() -> AppRuntime:
    """The first call of every page: it runs through the router (``app.py``, with its gate),
    and only for someone signed in, however the page was reached."""
    require_router()
    runtime = get_runtime()
    current_actor(runtime)
    return runtime


def current_actor(runtime: AppRuntime) -> Actor:
    """The actor the gate let in (a page run on its own, as in tests, has none: access off
    means a local admin, anything else stops)."""
    actor = st.session_state.get(ACTOR_KEY)
    if isinstance(actor, Actor):
        return actor
    if runtime.settings.access_mode == "off":
        return Actor.local()
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def workbench(runtime: AppRuntime) -> Workbench:
    """The checked and audited actions for whoever is signed in. With access control off, what
    is made carries the name typed in the prompt editor, if any."""
    actor = current_actor(runtime)
    typed = st.session_state.get("prompt_author")
    author = typed.strip() if actor.via == "off" and isinstance(typed, str) else None
    return Workbench(runtime.service, actor, author=author or None)


def author(runtime: AppRuntime) -> str:
    """The name stored as the author of what the signed-in user makes."""
    return workbench(runtime).by


# -- the modes -----------------------------------------------------------------------------------


def _from_header(runtime: AppRuntime) -> Actor | None:
    settings = runtime.settings
    name = (st.context.headers.get(settings.access_header) or "").strip()
    if not name:
        st.error(
            f"No access: this app is reached through a sign-in proxy, which names the user in "
            f"the `{settings.access_header}` header, and this request has none. Open the app "
            "through the proxy's address.",
            icon="🔒",
        )
        return None
    return _with_role(runtime, name, [], via="header")


def _from_oidc(runtime: AppRuntime) -> Actor | None:
    if "auth" not in read_secrets():
        st.error(
            "Access control is set to `oidc`, but `.streamlit/secrets.toml` has no `[auth]` "
            "section. Add it (see `.streamlit/secrets.toml.example`) and restart the app.",
            icon="🚨",
        )
        return None
    if not st.user.is_logged_in:
        st.title("Identity Coach Playground")
        st.button("Sign in", type="primary", icon="🔑", on_click=st.login)
        return None
    user: dict[str, Any] = st.user.to_dict()
    name = str(user.get("email") or user.get("sub") or "")
    groups = user.get(runtime.settings.access_groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    return _with_role(runtime, name, [str(g) for g in groups], via="oidc")


@st.cache_resource(show_spinner=False)
def _throttle() -> SignInThrottle:
    """One per process: failures count across the browser sessions of one address."""
    return SignInThrottle()


def _password_form(runtime: AppRuntime) -> Actor | None:
    settings = runtime.settings
    assert settings.access_password is not None  # Settings refuses password mode without one
    st.title("Identity Coach Playground")
    with st.form("sign_in"):
        name = st.text_input("Your name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        if not st.form_submit_button("Sign in", type="primary", icon="🔑"):
            return None
    name = name.strip()
    if not name:
        st.warning("Say who you are: your name goes into the audit log.", icon="✋")
        return None
    where = st.context.ip_address or "unknown address"
    throttle = _throttle()
    with st.spinner("Checking…"):
        time.sleep(throttle.delay_s(where))
    if not password_matches(password, settings.access_password.get_secret_value()):
        throttle.failed(where)
        _audit(runtime, name, None, "refused", f"wrong password from {where}")
        st.error(
            f"Wrong password. The next try waits {throttle.delay_s(where):.0f} s before it is "
            "checked, and each further failure doubles that.",
            icon="🔒",
        )
        return None
    throttle.succeeded(where)
    return _audited(runtime, Actor(name, settings.access_password_role, via="password"))


def _with_role(runtime: AppRuntime, name: str, groups: Iterable[str], *, via: str) -> Actor | None:
    settings = runtime.settings
    default = None if settings.access_default_role == "none" else Role(settings.access_default_role)
    role = role_for(name, groups, settings.access_roles, default)
    if role is None:
        if st.session_state.get(AUDITED_KEY) != name:
            _audit(runtime, name, None, "refused", f"no role for {name} (via {via})")
            st.session_state[AUDITED_KEY] = name
        st.error(
            f"You are signed in as {name}, but no role is given to you. Ask an admin to add you "
            "to `COACH_ACCESS_ROLES`.",
            icon="🔒",
        )
        if via == "oidc":
            st.button("Sign out", on_click=st.logout)
        return None
    return _audited(runtime, Actor(name, role, via=via))


def _audited(runtime: AppRuntime, actor: Actor) -> Actor:
    """The actor, with their sign-in written to the audit log once per browser session."""
    if st.session_state.get(AUDITED_KEY) != actor.name:
        _audit(runtime, actor.name, actor.role, "ok", f"via {actor.via}")
        st.session_state[AUDITED_KEY] = actor.name
    return actor


def _audit(
    runtime: AppRuntime, name: str, role: Role | None, outcome: Outcome, detail: str
) -> None:
    runtime.run(write_audit(runtime.db, name, role, Action.SIGN_IN, [], outcome, detail))


def _signed_in_sidebar(actor: Actor) -> None:
    with st.sidebar:
        st.caption(
            f"Signed in as **{escape_markdown(actor.name)}** ({actor.role.value}, {actor.via})"
        )
        if actor.via == "oidc":
            st.button("Sign out", key="sign_out", on_click=st.logout)
        elif actor.via == "password":
            st.button("Sign out", key="sign_out", on_click=_sign_out)


def _sign_out() -> None:
    for key in (ACTOR_KEY, AUDITED_KEY):
        st.session_state.pop(key, None)
