"""An app process that dies in the middle of a replay (``test_replay_crash.py`` kills it).

``python -m tests.engine.replay_worker --url ... --answered K`` opens the database as the app
does, loads the demo session and replays it live through a real ``CoachService`` whose model
answers the first K turns and never the next one. Once K turns are made and the next one is
waiting for its model, it prints one JSON line (the source, the replay's session and its
process id as an owner) and waits forever.

With ``--exact N``, the demo is played N times over in one session and replayed exactly; the
line is printed once K turns are made, while the replay goes on, so the test's kill lands
wherever the replay has got to (between two turns, or within one).
"""

from __future__ import annotations

import argparse
import asyncio

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import DEMO_STEPS, play_demo
from coach.llm.scripted import ScriptedLLMClient
from tests import processes


async def main(url: str, answered: int, exact: int | None) -> None:
    model = processes.AnswersThenHangs(answered, lambda _: {"message": "A live answer."})
    settings = Settings(database_url=url, llm_provider="scripted")
    db = await open_database(settings)
    demo = await play_demo(db, steps=DEMO_STEPS * (exact or 1))
    service = build_service(settings, ScriptedLLMClient(function=model), db)
    origin = await service.sessions.replay(demo.session_id, live=exact is None, by="crash")
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    if exact is None:
        await model.hung.wait()
        assert handle.done == answered, handle
    else:
        seen = 0
        while handle.done < answered:
            seen = (await handle.wait(seen, within_s=5)).seen
    await processes.report_and_wait(source=demo.session_id, session=origin.session_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an app process that crashes mid replay")
    parser.add_argument("--url", required=True)
    parser.add_argument("--answered", type=int, required=True)
    parser.add_argument("--exact", type=int, help="replay the demo played N times over exactly")
    options = parser.parse_args()
    asyncio.run(main(options.url, options.answered, options.exact))
