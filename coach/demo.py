"""A complete sample coaching session, replayed through the real ``CoachService``.

The client's messages and the coach's structured replies are written here; the replies are
played by the scripted model client, so everything else (actions, guards, prompts, storage) runs
for real. The script deliberately contains a refused phase change and rejected actions, so the
inspector has something to show. ``python -m coach demo-data`` loads it; the journey tests replay
it against every backend.

A demo session is marked in its context metadata (``DEMO_KEY``), so the Coach page can offer a
fresh copy of it: chatting in the demo adds to it, and a copy (``Workbench.copy_demo``) is the
demo played again for a new client, which leaves every stored session as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coach.enums import CoachingState, MessageRole
from coach.llm.base import LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import ContextRecord, IdentityRecord
from coach.prompts.library import METADATA_KEY
from coach.service import CoachService, StartedSession, TurnResult

Reply = dict[str, Any]

#: The key marking a demo session in its context metadata, and its value.
DEMO_KEY = "demo"
DEMO_NAME = "Maya's journey"


@dataclass
class DemoState:
    """What the script knows between turns: the client's identities by label."""

    identities: dict[str, IdentityRecord] = field(default_factory=dict)

    def id(self, label: str) -> str:
        return self.identities[label.casefold()].id

    def item_id(self, label: str, index: int = 0) -> str:
        return self.identities[label.casefold()].action_items[index].id


@dataclass(frozen=True)
class DemoStep:
    """One turn: the client's message, the coach's reply, and where the session must end up."""

    user: str
    reply: Callable[[DemoState], Reply]
    expect_state: CoachingState
    expect_rejected: int = 0
    expect_refused_transition: bool = False


def act(type_: str, **params: Any) -> dict[str, Any]:
    return {"type": type_, "params": params}


def move(to: CoachingState) -> dict[str, Any]:
    return act("transition_state", to_state=to.value)


CV, DP, EA, WK = "Creative Visionary", "Devoted Parent", "Energetic Athlete", "Wise Money Keeper"

DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(
        "Hi, I'm Maya. I design book covers and lately I feel like I've lost my spark.",
        lambda s: {
            "message": "Welcome, Maya. Losing your spark is worth paying attention to. "
            "Before we start: what would feeling like yourself again look like?",
            "actions": [
                act("save_user_info", key="name", value="Maya"),
                act("save_user_info", key="goal", value="Get my creative spark back"),
                move(CoachingState.ACTION_PLANNING),
            ],
        },
        CoachingState.INTRODUCTION,
        expect_rejected=1,
        expect_refused_transition=True,
    ),
    DemoStep(
        "I'd feel excited to sketch again, and present with my kids in the evenings.",
        lambda s: {
            "message": "Excitement to sketch, and presence with your kids. Let's explore who "
            "you are when you're at your best. Start with your work: who are you there?",
            "actions": [move(CoachingState.IDENTITY_BRAINSTORMING)],
        },
        CoachingState.IDENTITY_BRAINSTORMING,
    ),
    DemoStep(
        "At my best I come up with ideas nobody else sees. And at home I'm the one who "
        "makes bedtime stories into adventures.",
        lambda s: {
            "message": "I hear two identities there: a **Creative Visionary** and a "
            "**Devoted Parent**. Do those fit?",
            "actions": [
                act(
                    "create_identity",
                    label=CV,
                    category="passions_and_talents",
                    note="Sees ideas nobody else sees",
                ),
                act(
                    "create_identity",
                    label=DP,
                    category="familial_relations",
                    note="Bedtime stories as adventures",
                ),
                act("create_identity", label="creative visionary", category="passions_and_talents"),
                act("set_affirmation", identity_id="not-yet", affirmation="I am creative"),
            ],
        },
        CoachingState.IDENTITY_BRAINSTORMING,
        expect_rejected=2,
    ),
    DemoStep(
        "Yes, both fit. I also used to run every morning, and I'm careful with money.",
        lambda s: {
            "message": "Then let's add an **Energetic Athlete** and a **Wise Money Keeper**. "
            "Shall we move on and go deeper into one of them?",
            "actions": [
                act("accept_identity", identity_id=s.id(CV)),
                act("accept_identity", identity_id=s.id(DP)),
                act("create_identity", label=EA, category="physical_expression"),
                act("create_identity", label=WK, category="keeper_of_money"),
                move(CoachingState.IDENTITY_REFINEMENT),
            ],
        },
        CoachingState.IDENTITY_BRAINSTORMING,
        expect_rejected=1,
        expect_refused_transition=True,
    ),
    DemoStep(
        "The athlete one, yes. The money one doesn't feel like me right now.",
        lambda s: {
            "message": "Good: we keep the athlete and set the money one aside. Which of your "
            "identities would you like to sharpen first?",
            "actions": [
                act("accept_identity", identity_id=s.id(EA)),
                act("dismiss_identity", identity_id=s.id(WK)),
                move(CoachingState.IDENTITY_REFINEMENT),
            ],
        },
        CoachingState.IDENTITY_REFINEMENT,
    ),
    DemoStep(
        "The Creative Visionary. I want to believe it again.",
        lambda s: {
            "message": "Let's put it into words you can stand behind: *I am a Creative "
            "Visionary who turns quiet observations into bold covers.* How does that land?",
            "actions": [
                act("select_focus_identity", identity_id=s.id(CV)),
                act(
                    "set_affirmation",
                    identity_id=s.id(CV),
                    affirmation="I am a Creative Visionary who turns quiet observations "
                    "into bold covers.",
                ),
            ],
        },
        CoachingState.IDENTITY_REFINEMENT,
    ),
    DemoStep(
        "That lands. It gives me goosebumps, honestly.",
        lambda s: {
            "message": "Goosebumps are a good sign. Now picture a day as this Creative "
            "Visionary: where are you when the first idea arrives?",
            "actions": [
                act("mark_identity_refined", identity_id=s.id(CV)),
                move(CoachingState.IDENTITY_VISUALIZATION),
            ],
        },
        CoachingState.IDENTITY_VISUALIZATION,
    ),
    DemoStep(
        "At the kitchen table at 6am, coffee, sketchbook open, the house still quiet.",
        lambda s: {
            "message": "I can see it: the quiet kitchen, the coffee, the open sketchbook. "
            "What small steps would make that morning real this week?",
            "actions": [
                act(
                    "save_visualization",
                    identity_id=s.id(CV),
                    visualization="6am at the kitchen table, coffee steaming, sketchbook "
                    "open, the house quiet, the first idea arriving.",
                ),
                move(CoachingState.ACTION_PLANNING),
            ],
        },
        CoachingState.ACTION_PLANNING,
    ),
    DemoStep(
        "I could sketch for 20 minutes before the kids wake up, and keep my phone in another room.",
        lambda s: {
            "message": "Two clear actions. I'll note them. Let's check in on how they go.",
            "actions": [
                act(
                    "add_action_item",
                    identity_id=s.id(CV),
                    text="Sketch for 20 minutes before the kids wake up",
                ),
                act(
                    "add_action_item",
                    identity_id=s.id(CV),
                    text="Keep the phone in another room until 7am",
                ),
                move(CoachingState.ACCOUNTABILITY),
            ],
        },
        CoachingState.ACCOUNTABILITY,
    ),
    DemoStep(
        "I sketched three mornings this week! The phone thing was harder.",
        lambda s: {
            "message": "Three mornings: that is the Creative Visionary showing up. What got "
            "in the way with the phone?",
            "actions": [act("complete_action_item", action_item_id=s.item_id(CV, 0))],
        },
        CoachingState.ACCOUNTABILITY,
    ),
)


def demo_reply_function(
    state: DemoState, steps: tuple[DemoStep, ...]
) -> Callable[[LLMRequest], Reply | str]:
    """A scripted-model function: the next step's reply for coaching turns, a short summary
    for summary requests."""
    position = {"next": 0}

    def reply(request: LLMRequest) -> Reply | str:
        if request.response_schema is None:
            return "Maya, a book-cover designer, wants her creative spark back."
        step = steps[position["next"]]
        position["next"] += 1
        return step.reply(state)

    return reply


async def play_demo(
    db: DatabaseInterface,
    *,
    user_id: str | None = None,
    steps: tuple[DemoStep, ...] = DEMO_STEPS,
    on_turn: Callable[[DemoStep, TurnResult], Any] | None = None,
) -> StartedSession:
    """Replay the demo session into ``db`` through ``CoachService`` and the scripted model.

    Args:
        on_turn: called after each turn with the step and its result (progress, checks).
    """
    state = DemoState()
    client = ScriptedLLMClient(function=demo_reply_function(state, steps))
    service = CoachService(client, db)
    info = await service.start_session(user_id, user_name="Maya")
    context = await service.context_manager.load_context(info.user_id, info.session_id)
    context.metadata = {**context.metadata, DEMO_KEY: DEMO_NAME}
    await service.context_manager.commit(context)
    for step in steps:
        state.identities = {i.label.casefold(): i for i in await db.get_identities(info.user_id)}
        result = await service.send_message_and_wait(info.user_id, info.session_id, step.user)
        if on_turn is not None:
            on_turn(step, result)
    return info


def is_demo(context: ContextRecord | None) -> bool:
    """Whether a stored session is a demo session: marked so (``play_demo``, and the forks of
    one), or, played before demos were marked, opening with the demo client's first message."""
    if context is None:
        return False
    metadata = context.user_data.get(METADATA_KEY)
    if isinstance(metadata, dict) and metadata.get(DEMO_KEY):
        return True
    if context.first_message_index:
        return False  # the session's first messages are not among those read
    first = next((m for m in context.messages if m.role is MessageRole.USER), None)
    return first is not None and first.content == DEMO_STEPS[0].user


#: How many of a session's newest messages ``is_demo_session`` reads (as many as the Coach page
#: shows): an unmarked demo is known by its first messages, so it must have no more than these.
DEMO_MESSAGES_READ = 100


async def is_demo_session(db: DatabaseInterface, session_id: str) -> bool:
    """Whether the stored session ``session_id`` is a demo session (``is_demo``)."""
    user_id = await db.get_user_id_for_session(session_id)
    if user_id is None:
        return False
    return is_demo(await db.get_context(user_id, session_id, message_limit=DEMO_MESSAGES_READ))
