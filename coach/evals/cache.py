"""An explicit, opt-in cache of model replies for one eval run.

Without it every turn of every repeat asks the model, so repeats are independent. With it
(``--cache``; the run is labelled ``cached``), a request identical to an earlier one of the
same run is answered with the earlier reply: cheaper, but the repeats no longer sample the
model independently, and the report says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from coach.llm.base import LLMClient, LLMRequest, LLMResponse, Sampling, StreamEvent, TextDelta


class CachingLLMClient(LLMClient):
    """Answers a request identical to an earlier one with the earlier reply."""

    def __init__(self, inner: LLMClient) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        self.hits = 0
        self._replies: dict[str, LLMResponse] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        key = _key(request)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._replies.get(key)
            if cached is not None:
                self.hits += 1
                if cached.text:
                    yield TextDelta(cached.text)
                yield cached
                return
            async for event in self.inner.stream(request):
                if isinstance(event, LLMResponse):
                    self._replies[key] = event
                yield event

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def sampling(self, request: LLMRequest) -> Sampling:
        return self.inner.sampling(request)


def _key(request: LLMRequest) -> str:
    canonical = json.dumps(asdict(request), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
