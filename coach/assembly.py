"""Build the engine's parts from ``Settings``: the database, the model client, the service.

The app and the terminal entry point both start here, so they build things the same way.
"""

from __future__ import annotations

from coach.config import Settings
from coach.errors import SchemaMissingError
from coach.evals.runner import recover_eval_runs
from coach.llm.base import LLMClient
from coach.persistence.base import DatabaseInterface
from coach.persistence.factory import create_database_from_url
from coach.service import CoachService
from coach.sessions.jobs import recover_origins
from coach.turns import recover_interrupted
from coach.turns.experiments import recover_experiments


def build_database(settings: Settings) -> DatabaseInterface:
    """The configured database (not yet initialized)."""
    return create_database_from_url(settings.effective_database_url)


async def open_database(settings: Settings) -> DatabaseInterface:
    """The configured database, ready for the app.

    A new, empty database gets its schema here. An existing one is never migrated by the app:
    an outdated schema raises ``SchemaOutdatedError`` naming the command that upgrades it
    (``python -m coach init-db``), so several app processes never race to migrate. Turns left
    pending by a process that died are marked interrupted, ready to be retried; experiments, forks,
    replays and eval runs it left running are ended, with what they stored.
    """
    db = build_database(settings)
    try:
        try:
            await db.check_schema()
        except SchemaMissingError:
            await db.initialize()
        await recover_interrupted(db)
        await recover_experiments(db)
        await recover_origins(db)
        await recover_eval_runs(db)
    except BaseException:
        await db.close()
        raise
    return db


def build_llm_client(settings: Settings) -> LLMClient:
    """The configured model client: OpenAI (or compatible), the bundled local model, or scripted."""
    provider = settings.effective_provider
    if provider == "openai":
        from coach.llm.openai_client import OpenAIClient

        return OpenAIClient(
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            structured_mode=settings.openai_structured_mode,
            json_object_schema=settings.openai_json_object_schema,
            max_tokens_param=settings.openai_max_tokens_param,
            max_output_tokens=settings.max_output_tokens,
        )
    if provider == "local":
        from coach.llm.local import DEFAULT_MAX_OUTPUT_TOKENS, LocalLLMClient
        from coach.prompts.manager import PromptManager

        return LocalLLMClient(
            model_path=settings.local_model_path,
            n_ctx=settings.local_context_tokens,
            max_output_tokens=settings.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
            # The project's own shared parts; a coach's other active versions are not read
            # ahead (their prompts are simply read whole, as before).
            warm_system_prefix=PromptManager.from_folder().shared_system_prefix(),
        )
    from coach.llm.scripted import ScriptedLLMClient

    return ScriptedLLMClient()


async def open_llm_client(settings: Settings) -> LLMClient:
    """The configured client, ready to answer: the local model is loaded here, and reads the
    prompts' shared beginning in the background, so the first turn does not pay for either.
    Call it on the event loop that will use the client."""
    client = build_llm_client(settings)
    load = getattr(client, "load", None)
    if load is not None:
        await load()
    return client


def build_service(settings: Settings, llm_client: LLMClient, db: DatabaseInterface) -> CoachService:
    """A ``CoachService`` with the settings' budgets and limits."""
    return CoachService(
        llm_client,
        db,
        token_budget=settings.context_token_budget,
        summary_max_words=settings.summary_max_words,
        max_message_chars=settings.max_message_chars,
    )
