"""Signing in: roles by e-mail or group, the shared password's check, and the slowing down of
repeated failures."""

from __future__ import annotations

import time

from coach.access.roles import Role
from coach.access.signin import SignInThrottle, password_matches, role_for

ROLES = {"Ana@Example.org": Role.ADMIN, "coaches": Role.COACH, "readers": Role.VIEWER}


def test_a_role_comes_from_the_e_mail_or_a_group_the_highest_one_counting() -> None:
    assert role_for("ana@example.org", [], ROLES, None) is Role.ADMIN  # any case
    assert role_for("bo@example.org", ["readers", "Coaches"], ROLES, None) is Role.COACH
    assert role_for("ana@example.org", ["readers"], ROLES, None) is Role.ADMIN


def test_an_unnamed_user_gets_the_default_role_or_no_access() -> None:
    assert role_for("eve@example.org", ["strangers"], ROLES, Role.VIEWER) is Role.VIEWER
    assert role_for("eve@example.org", [], ROLES, None) is None


def test_the_password_must_match_exactly() -> None:
    assert password_matches("correct horse", "correct horse")
    assert not password_matches("correct hors", "correct horse")
    assert not password_matches("Correct horse", "correct horse")
    assert password_matches("pässwörd", "pässwörd")


def test_each_failure_doubles_the_wait_of_the_next_try_up_to_a_limit() -> None:
    throttle = SignInThrottle(first_delay_s=1.0, max_delay_s=4.0)
    assert throttle.delay_s("10.0.0.1") == 0.0
    waits = []
    for _ in range(5):
        throttle.failed("10.0.0.1")
        waits.append(throttle.delay_s("10.0.0.1"))
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert throttle.delay_s("10.0.0.2") == 0.0  # another address is not slowed down


def test_a_success_or_time_forgets_the_failures() -> None:
    throttle = SignInThrottle(first_delay_s=1.0, forget_after_s=0.05)
    throttle.failed("a")
    throttle.failed("b")
    throttle.succeeded("a")
    assert throttle.delay_s("a") == 0.0
    assert throttle.delay_s("b") == 1.0
    time.sleep(0.06)
    assert throttle.delay_s("b") == 0.0
    throttle.failed("b")  # counting starts again
    assert throttle.delay_s("b") == 1.0
