"""Contract: ``import_records`` stores whole users and sessions as they are (ids, versions,
times), all or nothing; refuses ids stored already and records that do not hold together,
naming every problem."""

from __future__ import annotations

from coach.enums import CoachingState, IdentityState, MessageRole, OriginKind, TurnStatus
from coach.errors import IdsTakenError
from coach.persistence import DatabaseInterface
from coach.persistence.records import (
    ActionResultRecord,
    PromptVersion,
    RecordBatch,
    SessionOrigin,
    SessionRecords,
)

from . import builders as b


def batch() -> RecordBatch:
    """A user with one session of 5 messages and 2 turns (the second failed), an identity and
    an origin; versions above 1, as exported records have."""
    user = b.user(data={"name": "Ida"}, version=3)
    sid = b.uid("session")
    msgs = [
        b.message("Welcome.", MessageRole.COACH),
        b.message("Hi, I am Ida."),
        b.message("Nice to meet you, Ida.", MessageRole.COACH),
        b.message("I want more courage."),
    ]
    msgs[2] = msgs[2].model_copy(update={"reply_to": msgs[1].id})
    found = b.identity(
        user.id, "Brave Speaker", session_id=sid, state=IdentityState.ACCEPTED, version=2
    )
    turns = [
        b.turn(
            user.id,
            sid,
            msgs[1].id,
            seq=1,
            coach_message_id=msgs[2].id,
            state_after=CoachingState.IDENTITY_BRAINSTORMING,
            actions=[
                ActionResultRecord(
                    type="create_identity",
                    params={"label": "Brave Speaker", "identity_id": found.id},
                    status="applied",
                )
            ],
            details={"prompt_variables": {"client_name": "Ida"}},
        ),
        b.turn(user.id, sid, msgs[3].id, seq=2, status=TurnStatus.FAILED),
    ]
    return RecordBatch(
        users=[user],
        sessions=[
            SessionRecords(
                session_id=sid,
                user_id=user.id,
                created_at=b.tick(),
                last_activity_at=b.tick(),
                state=b.state(user.id, sid, CoachingState.IDENTITY_BRAINSTORMING),
                context=b.context(user.id, sid, msgs, user_data={"summary": "short"}, version=4),
                turns=turns,
                origin=SessionOrigin(
                    session_id=sid, source_session_id="elsewhere", kind=OriginKind.FORK, at_turn=2
                ),
            )
        ],
        identities=[found],
    )


async def test_imported_records_read_back_as_they_were(db: DatabaseInterface) -> None:
    records = batch()
    await db.import_records(records)
    [user] = records.users
    [session] = records.sessions
    sid = session.session_id
    assert await db.get_user(user.id) == user
    assert await db.get_state(user.id, sid) == session.state
    assert await db.get_context(user.id, sid, message_limit=None) == session.context
    assert [await db.get_turn(sid, t.seq or 0) for t in session.turns] == session.turns
    assert await db.get_identities(user.id) == records.identities
    assert await db.get_session_origin(sid) == session.origin
    summary = await db.get_session(sid)
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.state) == (
        4,
        2,
        CoachingState.IDENTITY_BRAINSTORMING,
    )
    assert (summary.created_at, summary.last_activity_at) == (
        session.created_at,
        session.last_activity_at,
    )
    # The failed turn's message can be answered again; the answered one cannot start a turn.
    assert await db.get_turn_for_message(sid, session.turns[0].user_message_id) is not None


async def test_ids_stored_already_are_refused_and_nothing_is_written(db: DatabaseInterface) -> None:
    records = batch()
    await db.import_records(records)
    before = await db.count_records()
    again = batch()
    again.users[0] = again.users[0].model_copy(update={"id": records.users[0].id})
    for part in (again.sessions[0], *again.identities):
        part.user_id = records.users[0].id
    for part in (again.sessions[0].state, again.sessions[0].context, *again.sessions[0].turns):
        assert part is not None
        part.user_id = records.users[0].id
    with b.raises(IdsTakenError):
        await db.import_records(again)
    assert await db.count_records() == before
    assert await db.get_session(again.sessions[0].session_id) is None


async def test_records_that_do_not_hold_together_are_refused_with_every_problem(
    db: DatabaseInterface,
) -> None:
    records = batch()
    session = records.sessions[0]
    session.turns[0].coach_message_id = "not-a-message"
    records.identities[0].user_id = "someone-else"
    session.turns[1].seq = 5
    with b.raises(ValueError) as refused:
        await db.import_records(records)
    text = str(refused.value)
    assert "sessions[0].turns[0].coach_message_id: message not-a-message is not in" in text
    assert "identities[0].user_id: user someone-else is not among the users" in text
    assert "sessions[0].turns[1].seq: must be 2" in text
    assert await db.count_records() == {k: 0 for k in await db.count_records()}


async def test_prompt_versions_keep_their_numbers_and_clash_with_other_content(
    db: DatabaseInterface,
) -> None:
    intro = PromptVersion(part="introduction", version=3, body="Hello {{ client_name }}")
    records = batch().model_copy(update={"prompt_versions": [intro]})
    await db.import_records(records)
    assert await db.get_prompt_version("introduction", 3) == intro
    assert await db.get_prompt_version("introduction", 1) is None  # a gap stays a gap
    # The next saved version numbers after it.
    saved = await db.add_prompt_version(PromptVersion(part="introduction", body="Hi"))
    assert saved.version == 4
    # The same version again (another bundle) is left as stored.
    await db.import_records(batch().model_copy(update={"prompt_versions": [intro]}))
    before = await db.count_records()
    # Other content under a stored number, or stored content under another number: refused.
    for clash in (
        intro.model_copy(update={"body": "Different"}),
        intro.model_copy(update={"version": 7, "body": "Hi"}),
    ):
        with b.raises(IdsTakenError):
            await db.import_records(batch().model_copy(update={"prompt_versions": [clash]}))
    assert await db.count_records() == before
    assert [v.version for v in await db.list_prompt_versions("introduction")] == [3, 4]


async def test_a_session_can_join_a_stored_user_but_not_an_unknown_one(
    db: DatabaseInterface,
) -> None:
    first = batch()
    await db.import_records(first)
    owner = first.users[0].id
    more = batch()
    session = more.sessions[0]
    for part in (session, session.state, session.context, *session.turns):
        assert part is not None
        part.user_id = owner
    joined = RecordBatch(sessions=[session])  # no user: the stored one
    await db.import_records(joined)
    assert set(await db.get_sessions_for_user(owner)) == {
        first.sessions[0].session_id,
        session.session_id,
    }
    stray = batch()
    with b.raises(ValueError) as refused:
        await db.import_records(RecordBatch(sessions=stray.sessions))
    assert "is not among the users" in str(refused.value)
