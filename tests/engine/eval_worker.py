"""An app process that dies in the middle of an eval run (``test_eval_crash.py`` kills it).

``python -m tests.engine.eval_worker --url ... --conversations N --answered K`` opens the
database as the app does and starts an eval run of N conversations of one scenario
(``eval_helpers.scenario``, four turns each), one at a time, through a real ``CoachService``
whose model answers the turns of the first K conversations and never the next one. Once K
conversations are stored ``done`` and the next one is waiting for its model, it prints one JSON
line (the run's id and its process id as an owner) and waits forever.
"""

from __future__ import annotations

import argparse
import asyncio

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.enums import JobStatus
from coach.llm.scripted import ScriptedLLMClient
from tests import processes
from tests.engine.eval_helpers import coach, scenario

#: The turns of one conversation of ``eval_helpers.scenario``: the opening and three lines.
TURNS = 4


async def main(url: str, conversations: int, answered: int) -> None:
    model = processes.AnswersThenHangs(answered * TURNS, coach())
    settings = Settings(database_url=url, llm_provider="scripted")
    db = await open_database(settings)
    service = build_service(settings, ScriptedLLMClient(function=model), db)
    started = await service.evals.start(
        [scenario()], repeats=conversations, concurrency=1, name="crash"
    )
    handle = service.evals.handle(started.id)
    assert handle is not None
    seen = 0
    while handle.done < answered:
        seen = (await handle.wait(seen, within_s=5)).seen
    await model.hung.wait()
    run = await db.get_eval_run(started.id)
    assert run is not None
    done = [c.repeat for c in run.conversations if c.status is JobStatus.DONE]
    assert len(done) == answered, f"{len(done)} conversations stored done, not {answered}"
    await processes.report_and_wait(run=started.id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an app process that crashes mid eval run")
    parser.add_argument("--url", required=True)
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--answered", type=int, required=True)
    options = parser.parse_args()
    asyncio.run(main(options.url, options.conversations, options.answered))
