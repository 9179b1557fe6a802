"""The simulated client: a person for a model to play against the coach, or scripted lines.

It has a prompt of its own (``client_prompt.md``) and sees only the conversation as a client
would: the coach's messages, never the coach's system prompt, actions or phases. The coach's
messages are sent as the ``user`` side and the client's own as ``assistant``, so the model
answers as the client. It stops when its lines run out or when the model writes the stop
signal; the runner also stops at the scenario's turn limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coach.enums import MessageRole
from coach.errors import LLMLengthError, LLMResponseError
from coach.evals.scenario import ClientSpec, Persona
from coach.llm.base import ChatMessage, LLMClient, LLMRequest, LLMResponse, TextDelta
from coach.persistence.records import MessageRecord

#: The client writes this when it wants to end the conversation.
STOP_SIGNAL = "<<END>>"
PROMPT_PATH = Path(__file__).with_name("client_prompt.md")
#: A client says little: one to three sentences.
MAX_CLIENT_TOKENS = 160
#: How many of the newest messages the client model sees.
CLIENT_WINDOW = 24


@dataclass(frozen=True)
class ClientMessage:
    """The client's next message (``None``: it has nothing more to say), whether it is its
    last, and what the model returned for it."""

    text: str | None
    last: bool = False
    response: LLMResponse | None = None


def persona_prompt(persona: Persona) -> str:
    """The simulated client's system prompt for this persona."""
    return PROMPT_PATH.read_text(encoding="utf-8").format(
        name=persona.name,
        background=persona.background,
        goals="; ".join(persona.goals),
        style=persona.style or "plain, everyday words",
        resists=persona.resists or "nothing in particular",
        stop=STOP_SIGNAL,
    )


class SimulatedClient:
    """Plays one client in one conversation.

    Args:
        spec: the scenario's client.
        llm: the model playing a persona (unused for scripted lines).
    """

    def __init__(self, spec: ClientSpec, llm: LLMClient | None) -> None:
        if spec.persona is not None and llm is None:
            raise ValueError("a persona needs a model to play it")
        self.spec = spec
        self.llm = llm
        self._sent = 0

    async def next_message(self, conversation: list[MessageRecord]) -> ClientMessage:
        """The client's answer to the conversation so far (after the opening, which the
        scenario gives).

        Raises:
            LLMError: the model playing the client failed.
        """
        if self.spec.lines is not None:
            self._sent += 1
            lines = self.spec.lines
            if self._sent > len(lines):
                return ClientMessage(None)
            return ClientMessage(lines[self._sent - 1], last=self._sent == len(lines))
        assert self.spec.persona is not None and self.llm is not None
        request = LLMRequest(
            messages=[
                ChatMessage("system", persona_prompt(self.spec.persona)),
                *(_as_client_sees(m) for m in conversation[-CLIENT_WINDOW:]),
            ],
            max_output_tokens=MAX_CLIENT_TOKENS,
        )
        streamed: list[str] = []
        try:
            async for event in self.llm.stream(request):
                if isinstance(event, TextDelta):
                    streamed.append(event.text)
                else:
                    text, stopped = _until_stop(event.text)
                    return ClientMessage(text or None, last=stopped, response=event)
        except LLMLengthError:
            # A client who talks too long is still a client: keep its whole sentences.
            kept = _whole_sentences("".join(streamed))
            if not kept:
                raise
            text, stopped = _until_stop(kept)
            return ClientMessage(text or None, last=stopped)
        raise LLMResponseError(f"the {self.llm.provider} client ended its stream without a reply")


def _as_client_sees(message: MessageRecord) -> ChatMessage:
    # The coach speaks to the model playing the client; the client's own words are its past.
    if message.role is MessageRole.COACH:
        return ChatMessage("user", message.content)
    return ChatMessage("assistant", message.content)


def _until_stop(text: str) -> tuple[str, bool]:
    before, signal, _ = text.partition(STOP_SIGNAL)
    return before.strip(), bool(signal)


def _whole_sentences(text: str) -> str:
    """The text up to its last sentence end (``.``, ``!`` or ``?``), or ``""``."""
    end = max(text.rfind(mark) for mark in ".!?")
    return text[: end + 1].strip() if end >= 0 else ""
