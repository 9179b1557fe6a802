"""Logs for operators: one JSON object a line (or plain text), with ids and timings, never a
secret, and what the client and the coach said only when configured.

``configure_logging`` installs one handler on the root logger, so the project's records and the
libraries' are written alike. Structured fields are passed with ``extra=``
(``logger.info("turn.ended", extra={"session_id": ...})``) and become keys of the line.

What a client and the coach said is personal data: a record carries it under the ``CONTENT``
key, and it is written only with ``Settings.log_content`` on. Secrets are never logged on
purpose; in case one is anyway (a library's exception that echoes a URL, say), every configured
secret (each ``SecretStr`` setting, the database URL's password) is replaced by ``***`` in each
line written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import unquote, unquote_plus, urlsplit

from pydantic import SecretStr

from coach.persistence.urls import SECRET_QUERY_KEYS

if TYPE_CHECKING:  # the engine logs with ``CONTENT`` without loading the settings
    from coach.config import Settings

#: The ``extra=`` key of what a client or the coach said: written only with ``log_content`` on.
CONTENT = "content"
REDACTED = "***"

#: Whether ``configure_logging`` was told to write what was said (``Settings.log_content``):
#: the engine attaches it to its records only then.
_content_logged = False

#: The attributes of every ``LogRecord``: any other was passed with ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Redactor:
    """Replaces each secret in a text with ``***``, as written and as JSON escapes it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = {
            form for s in secrets if s for form in (s, json.dumps(s, ensure_ascii=False)[1:-1])
        }
        # Longest first: a secret that contains another is replaced whole.
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class LogFormatter(logging.Formatter):
    """The base of both formats: ``render`` a record, with every secret redacted from it.

    Args:
        secrets: Values never to write (``configured_secrets``).
        content: Also write what the client and the coach said (the ``CONTENT`` field).
    """

    def __init__(self, *, secrets: Iterable[str] = (), content: bool = False) -> None:
        super().__init__()
        self.redact = Redactor(secrets)
        self.content = content

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.render(record))

    def render(self, record: logging.LogRecord) -> str:
        raise NotImplementedError

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The fields the record was given with ``extra=`` (``CONTENT`` only when configured)."""
        fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
        if not self.content:
            fields.pop(CONTENT, None)
        return fields

    def when(self, record: logging.LogRecord) -> str:
        """The record's time, ISO 8601 in UTC to the millisecond."""
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(LogFormatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``, the ``extra=``
    fields, and ``exception`` (the traceback) when there is one."""

    def render(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.when(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in self.fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(LogFormatter):
    """``time level logger: message key=value ...``, then the traceback, for reading."""

    def render(self, record: logging.LogRecord) -> str:
        text = f"{self.when(record)} {record.levelname} {record.name}: {record.getMessage()}"
        text += "".join(
            f" {key}={json.dumps(value, ensure_ascii=False, default=str)}"
            for key, value in self.fields(record).items()
        )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


class LogHandler(logging.Handler):
    """Writes each record on a line of ``stream``; by default of ``sys.stderr`` as it is when
    the record comes (a test's capture or Streamlit may replace it meanwhile)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> LogHandler:
    """Write the log records as ``settings`` say (``log_format``, ``log_level``,
    ``log_content``), to ``stream`` (default: standard error), with the configured secrets
    redacted.

    ``log_level`` is the engine's (the ``coach`` loggers'); the libraries' INFO records (each
    migration step, each HTTP request) are noise to an operator, so they write from WARNING
    up, and everything at DEBUG.

    Call it where the process starts. Calling it again replaces the handler it installed
    before (the app builds its runtime again when Streamlit's cache is cleared): there is only
    ever one.

    Returns:
        The handler installed on the root logger.
    """
    root = logging.getLogger()
    for installed in [h for h in root.handlers if isinstance(h, LogHandler)]:
        root.removeHandler(installed)
        installed.close()
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    handler = LogHandler(stream)
    handler.setFormatter(
        formatter(secrets=configured_secrets(settings), content=settings.log_content)
    )
    root.addHandler(handler)
    global _content_logged
    _content_logged = settings.log_content
    level = logging.getLevelNamesMapping()[settings.log_level]
    root.setLevel(level if level == logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger("coach").setLevel(level)
    return handler


def content_logged() -> bool:
    """Whether what the client and the coach said may be logged (``log_content``)."""
    return _content_logged


def without_content(error: str) -> str:
    """An error's reason without what it quotes after its first ": " (a model's reply, a
    refusal): the part that says what went wrong."""
    return error.split(": ", 1)[0]


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold: each ``SecretStr`` setting (the API key, ...) and the
    database URL's passwords."""
    secrets = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    return secrets + url_secrets(settings.effective_database_url)


def url_secrets(url: str) -> list[str]:
    """A URL's passwords (in the user part, and the query string's ``SECRET_QUERY_KEYS``), as
    written and decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL that can be split: hide it whole
        return [url]
    written = [parts.password or ""] + [
        value
        for key, _, value in (pair.partition("=") for pair in parts.query.split("&"))
        if key.lower() in SECRET_QUERY_KEYS
    ]
    return [form for raw in written if raw for form in {raw, unquote(raw), unquote_plus(raw)}]
