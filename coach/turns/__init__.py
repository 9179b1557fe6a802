"""A turn is a job of the engine: stored first, run as a task, followed by whoever looks.

1. **Begin.** The user's message and a ``pending`` turn (owned by this process) are stored in
   one transaction before the model is called. From then on nothing the user sent can be lost.
2. **Run.** A task on the engine's event loop runs the turn, one at a time per session: it
   builds the prompt, streams the model's reply, then applies the reply's actions to records
   read fresh from the database and completes the turn in place (``ok``, or ``failed`` with the
   reason). A stale write (another session of the user changed an identity or took a label
   meanwhile) applies the same reply again to fresh records; the model is never asked twice,
   so a reply is streamed once. While it runs, the turn's heartbeat says so every
   ``HEARTBEAT_S``.
3. **Follow.** A ``TurnHandle`` keeps the events so far. A page reads them and waits for more,
   and may go away at any moment: the task does not notice.

A pending turn whose process died is marked failed ("interrupted") by the next engine that
looks (``TurnJobs.recover``): at start-up, and when a page opens its session.
"""

from coach.turns.events import TurnEvent, TurnHandle, TurnProgress, TurnResult
from coach.turns.jobs import HEARTBEAT_S, TurnJobs
from coach.turns.recovery import INTERRUPTED, STALE_AFTER, recover_interrupted

__all__ = [
    "HEARTBEAT_S",
    "INTERRUPTED",
    "STALE_AFTER",
    "TurnEvent",
    "TurnHandle",
    "TurnJobs",
    "TurnProgress",
    "TurnResult",
    "recover_interrupted",
]
