"""An app process that dies in the middle of a turn (``test_crash.py`` kills it with SIGKILL).

``python -m tests.persistence.crash_worker --url ... --user ... --session ... --message-id ...``
opens the database as the app does (``open_database``: schema check, then recovery of turns
left by dead processes), starts the session, and sends one message through a real
``CoachService`` whose model never answers. Once the model has been asked (so the message and
its pending turn are stored) it prints one JSON line (its process id as a turn's owner names it,
and the turn's seq) and waits forever.
"""

from __future__ import annotations

import argparse
import asyncio

from coach.assembly import build_service, open_database
from coach.config import Settings
from coach.llm.scripted import ScriptedLLMClient
from coach.service import TurnHandle
from tests import processes


async def main(args: argparse.Namespace) -> None:
    model = processes.AnswersThenHangs(0)
    settings = Settings(database_url=args.url, llm_provider="scripted")
    db = await open_database(settings)
    service = build_service(settings, ScriptedLLMClient(function=model), db)
    await service.start_session(args.user, session_id=args.session, user_name=args.user.title())
    handle = await service.submit(
        args.user, args.session, args.text, client_message_id=args.message_id
    )
    assert isinstance(handle, TurnHandle), f"expected a new turn, got {handle!r}"
    await asyncio.wait_for(model.hung.wait(), 60)
    await processes.report_and_wait(seq=handle.seq)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an app process that crashes mid-turn")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--text", required=True)
    asyncio.run(main(parser.parse_args()))
