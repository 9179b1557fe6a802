"""The Prompts page in the app: saving an edit, refusing a bad one, and two coaches activating
at once (the later is told, nothing is overwritten)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from coach.persistence import PromptVersion
from coach.prompts.store import ACTIVE
from tests.app.helpers import load_demo, no_exception, open_page, runtime, texts

TITLE = "# Right now: getting started"


def opened(app: AppTest) -> AppTest:
    load_demo()
    return open_page(app, "pages/prompts.py", part="introduction")


def editor(app: AppTest):  # type: ignore[no-untyped-def]
    return next(t for t in app.text_area if t.key.startswith("prompt_edit_introduction_"))


def save(app: AppTest, note: str) -> None:
    app.text_input(key="prompt_note").input(note)
    next(b for b in app.button if b.label == "Save as a new version").click()
    app.run()
    no_exception(app)


def versions(part: str = "introduction") -> list[int]:
    rt = runtime()
    return [v.version or 0 for v in rt.run(rt.db.list_prompt_versions(part))]


def test_the_preview_renders_on_the_session_and_an_edit_is_saved(app: AppTest) -> None:
    opened(app)
    assert "Maya" in texts(app)  # the demo client, in the rendered preview
    edit = editor(app)
    edit.input(edit.value.replace(TITLE, "# Right now: hello"))
    app.run()
    assert "# Right now: hello" in texts(app)
    save(app, "shorter")
    assert "saved introduction@2" in texts(app)
    assert versions() == [1, 2]


def test_a_bad_edit_shows_the_problem_and_is_not_saved(app: AppTest) -> None:
    opened(app)
    edit = editor(app)
    edit.input(edit.value.replace("{{ client_name }}", "{{ client_nmae }}"))
    app.run()
    assert any("client_nmae" in e.value for e in app.error)
    save(app, "typo")
    assert any("client_nmae" in str(e.value) for e in app.error)
    assert versions() == [1]
    save_without_note = next(b for b in app.button if b.label == "Save as a new version")
    app.text_input(key="prompt_note").input("")
    save_without_note.click()
    app.run()
    assert "Say what changed in a note" in texts(app)


def test_the_later_of_two_coaches_activating_at_once_is_told(app: AppTest) -> None:
    opened(app)
    rt = runtime()
    current = rt.run(rt.db.get_prompt_version("introduction", 1))
    assert current is not None
    for body in ("two", "three"):
        rt.run(
            rt.db.add_prompt_version(
                PromptVersion(
                    part="introduction",
                    body=current.body + body,
                    front_matter=current.front_matter,
                )
            )
        )
    app.run()  # this coach now sees versions 1-3, version 1 active (revision 1)
    app.checkbox(key="activate_sure").check()
    app.run()
    # After this coach's page was drawn, another coach activates version 2.
    rt.run(rt.db.set_prompt_label("introduction", ACTIVE, 2, expected_revision=1, by="bo"))
    next(b for b in app.button if b.label == "Activate version 3").click()
    app.run()
    no_exception(app)
    shown = texts(app)
    assert "changed since you loaded it" in shown and "points at version 2" in shown, shown
    [label] = [x for x in rt.run(rt.db.list_prompt_labels("introduction")) if x.label == ACTIVE]
    assert (label.version, label.updated_by) == (2, "bo")
