"""An app process that dies in the middle of a live replay (``test_replay_crash.py`` kills it).

``python -m tests.engine.replay_worker --url ... --answered K`` opens the database as the app
does, loads the demo session and replays it live through a real ``CoachService`` whose model
answers the first K turns and never the next one. Once K turns are made and the next one is
waiting for its model, it prints one JSON line (the source, the replay's session and its
process id as an owner) and waits forever.
"""

from __future__ import annotations

import argparse
import asyncio

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import play_demo
from coach.llm.scripted import ScriptedLLMClient
from tests import processes


async def main(url: str, answered: int) -> None:
    model = processes.AnswersThenHangs(answered, lambda _: {"message": "A live answer."})
    settings = Settings(database_url=url, llm_provider="scripted")
    db = await open_database(settings)
    demo = await play_demo(db)
    service = build_service(settings, ScriptedLLMClient(function=model), db)
    origin = await service.sessions.replay(demo.session_id, live=True, by="crash")
    await model.hung.wait()
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None and handle.done == answered, handle
    await processes.report_and_wait(source=demo.session_id, session=origin.session_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an app process that crashes mid replay")
    parser.add_argument("--url", required=True)
    parser.add_argument("--answered", type=int, required=True)
    options = parser.parse_args()
    asyncio.run(main(options.url, options.answered))
