"""What the session inspector shows, derived from stored records (no Streamlit here).

The turn log is the source of truth for a session's history: each turn records the phase before
and after, the transition the model requested (and why it was refused), and every action with its
result. From it this package derives

- ``timeline``: the phase timeline and summary rows of turns and actions;
- ``identities``: identities grouped by state, and each identity's history of actions;
- ``replay``: the state and identities after each turn, and the diff between two turns;
- ``window``: the context window of a turn, token counts per part, where each message stood;
- ``model_input``: what a stored turn sent to the model, message by message, and its sampling;
- ``summaries``: what a session carries from the previous one, and its summary steps;
- ``session``: a whole session loaded at once, and its JSON export bundle.
"""

from __future__ import annotations

from coach.inspection.identities import (
    IDENTITY_STATE_ORDER,
    IdentityEvent,
    identities_by_state,
    identity_history,
    identity_rows,
)
from coach.inspection.model_input import (
    InputPart,
    TurnExchange,
    chat_parts,
    input_parts,
    load_turn_exchange,
    sampling_rows,
    summary_title,
)
from coach.inspection.replay import DiffRow, Snapshot, diff_snapshots, replay
from coach.inspection.session import (
    SessionView,
    activity_bounds,
    as_json,
    latest_window_turn,
    load_session_view,
    load_turn_outlines,
)
from coach.inspection.summaries import (
    CarriedOver,
    SummaryStep,
    carried_over,
    load_summary_steps,
    summary_step,
)
from coach.inspection.timeline import (
    PHASE_LABELS,
    PhaseStep,
    action_rows,
    phase_label,
    phase_number,
    phase_timeline,
    prompt_refs,
    timeline_points,
    turn_rows,
)
from coach.inspection.window import (
    WindowView,
    message_rows,
    message_status,
    unanswered_user_messages,
    window_view,
)

__all__ = [
    "IDENTITY_STATE_ORDER",
    "PHASE_LABELS",
    "CarriedOver",
    "DiffRow",
    "IdentityEvent",
    "InputPart",
    "PhaseStep",
    "SessionView",
    "Snapshot",
    "SummaryStep",
    "TurnExchange",
    "WindowView",
    "action_rows",
    "activity_bounds",
    "as_json",
    "carried_over",
    "chat_parts",
    "diff_snapshots",
    "identities_by_state",
    "identity_history",
    "identity_rows",
    "input_parts",
    "latest_window_turn",
    "load_session_view",
    "load_summary_steps",
    "load_turn_exchange",
    "load_turn_outlines",
    "message_rows",
    "message_status",
    "phase_label",
    "phase_number",
    "phase_timeline",
    "prompt_refs",
    "replay",
    "sampling_rows",
    "summary_step",
    "summary_title",
    "timeline_points",
    "turn_rows",
    "unanswered_user_messages",
    "window_view",
]
