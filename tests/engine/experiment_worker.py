"""An app process that dies in the middle of an experiment (``test_experiments.py`` kills it).

``python -m tests.engine.experiment_worker --url ...`` opens the database as the app does,
loads the demo session, and tries its second turn 3 times through a real ``CoachService``
whose model answers the first run only. Once that run is stored it prints one JSON line (the
experiment's id, the session's id and its process id as an owner) and waits forever.
"""

from __future__ import annotations

import argparse
import asyncio

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.demo import play_demo
from coach.llm.scripted import ScriptedLLMClient
from tests import processes

ANSWERED = "The one run that ended before the crash."


async def main(url: str) -> None:
    model = processes.AnswersThenHangs(1, lambda _: {"message": ANSWERED, "actions": []})
    settings = Settings(database_url=url, llm_provider="scripted")
    db = await open_database(settings)
    demo = await play_demo(db)
    service = build_service(settings, ScriptedLLMClient(function=model), db)
    started = await service.experiments.start(demo.session_id, 2, runs=3, name="crash")
    handle = service.experiments.handle(started.id)
    assert handle is not None
    seen = 0
    while True:
        progress = await handle.wait(seen, within_s=5)
        seen = progress.seen
        if progress.ended:
            break
    await processes.report_and_wait(experiment=started.id, session=demo.session_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an app process that crashes mid-experiment")
    parser.add_argument("--url", required=True)
    asyncio.run(main(parser.parse_args().url))
