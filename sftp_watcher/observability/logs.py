"""Structured logs (SPEC 9): one JSON object per line on stderr, secrets scrubbed on the way out.

structlog and the standard library share one handler, so paramiko's, APScheduler's and our
own events come out in the same format and pass through the same scrubbing.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal, Protocol, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from sftp_watcher.state.urls import url_passwords


class _WithStateUrl(Protocol):
    @property
    def state_url(self) -> str: ...


MASK = "***"

# Key names whose values are secret whatever they hold (SPEC 7). Matched anywhere in the key,
# so "smtp_password", "security-id" and "Authorization" are all caught.
_SECRET_KEY = re.compile(
    r"password|passphrase|security[_-]?id|secret|dsn|authorization|api[_-]?key|token|cookie",
    re.IGNORECASE,
)

# Libraries that narrate every connection at INFO; their warnings still come through.
_NOISY_LOGGERS = ("paramiko.transport", "apscheduler.executors.default", "httpx", "httpcore")
# Loggers whose complaints we already report in our own words (one alert per outage):
# paramiko's "Socket exception" on every dropped session, and APScheduler's "skipped:
# maximum number of running instances reached", which is how `max_instances=1` works.
_TRANSLATED_LOGGERS = ("paramiko.transport", "apscheduler.scheduler")

_secrets_lock = threading.Lock()
_secret_values: set[str] = set()
# Compiled at the first scrub after a registration, not at each one: registering the
# secrets of thousands of customers one by one stays linear.
_secret_pattern: re.Pattern[str] | None = None
_pattern_stale = False


def register_secret(value: str | SecretStr | None) -> None:
    """Mask ``value`` wherever it appears in any logged text from now on. Idempotent."""
    global _pattern_stale  # noqa: PLW0603 - one process-wide registry, changed under a lock
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text or not text.strip():
        return
    with _secrets_lock:
        if text not in _secret_values:
            _secret_values.add(text)
            _pattern_stale = True


def register_secrets(model: Any) -> None:
    """Mask every SecretStr anywhere in ``model`` (the settings: pydantic models, lists)."""
    if isinstance(model, SecretStr):
        register_secret(model)
    elif isinstance(model, list | tuple):
        for item in model:
            register_secrets(item)
    elif hasattr(model, "__pydantic_fields__"):
        for name in type(model).model_fields:
            register_secrets(getattr(model, name))


def register_settings_secrets(settings: _WithStateUrl) -> None:
    """Every secret of the configuration, and the password inside ``state_url`` (a
    database driver's error may quote the URL)."""

    register_secrets(settings)
    for password in url_passwords(settings.state_url):
        register_secret(password)


def forget_secrets() -> None:
    """Drop every registered secret (tests start from a clean registry)."""
    global _secret_pattern, _pattern_stale  # noqa: PLW0603
    with _secrets_lock:
        _secret_values.clear()
        _secret_pattern = None
        _pattern_stale = False


def _current_pattern() -> re.Pattern[str] | None:
    global _secret_pattern, _pattern_stale  # noqa: PLW0603
    if _pattern_stale:
        with _secrets_lock:
            if _pattern_stale:
                _secret_pattern = re.compile(secrets_alternation(_secret_values))
                _pattern_stale = False
    return _secret_pattern


def secrets_alternation(values: Iterable[str]) -> str:
    """One regular expression matching any of ``values``, the longest at each position
    (a secret that contains another is masked whole), as a trie: a log line is scanned
    in time of its length times the secrets' length, not times their number."""
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[_END] = {}
    try:
        return _trie_pattern(trie)
    except RecursionError:  # thousands of secrets each a prefix of the next
        ordered = sorted(values, key=len, reverse=True)
        return "|".join(re.escape(v) for v in ordered)


_END = ""  # the key marking, in the trie, the end of a secret


def _trie_pattern(node: dict[str, Any]) -> str:
    parts: list[str] = []
    # A run of single-child nodes is a plain literal (no recursion, no group).
    while len(node) == 1 and _END not in node:
        char, node = next(iter(node.items()))
        parts.append(re.escape(char))
    branches = [re.escape(char) + _trie_pattern(child) for char, child in node.items() if char]
    if branches:
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if _END in node:  # a secret ends here, or goes on: the longer first (greedy)
            body = f"(?:{body})?"
        parts.append(body)
    return "".join(parts)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _is_secret_name(key)


@functools.lru_cache(maxsize=1024)
def _is_secret_name(key: str) -> bool:
    # Every log line asks for each of its keys, and the keys are few: remember them.
    return _SECRET_KEY.search(key) is not None


def scrub_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _current_pattern()
    return text if pattern is None else pattern.sub(MASK, text)


def scrub(value: Any) -> Any:
    """A copy of ``value`` without secrets: secret-named keys masked, registered values cut out.

    Unknown objects become their scrubbed ``str``, because a renderer would otherwise print
    their ``repr`` unchecked.
    """
    if type(value) is str:  # most values: the common case first
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item) for item in value]
    if value is None or isinstance(value, bool | int | float | datetime | date):
        return value
    return scrub_text(_as_text(value))


def _as_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


def scrub_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: run after exceptions are rendered to text, before the renderer."""
    return {
        key: value if key == "exc_info" else MASK if is_secret_key(key) else scrub(value)
        for key, value in event_dict.items()
    }


class _ScrubbedConsole:
    """ConsoleRenderer formats tracebacks itself, so its finished text is scrubbed too."""

    def __init__(self, colors: bool) -> None:
        self._render = structlog.dev.ConsoleRenderer(colors=colors)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        return scrub_text(str(self._render(logger, name, event_dict)))


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler configure_logging installed, so a second call replaces it."""


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]


def _renderer_chain(fmt: Literal["json", "console"], stream: TextIO) -> list[Processor]:
    if fmt == "console":
        colors = bool(getattr(stream, "isatty", lambda: False)())
        return [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            scrub_event,
            _ScrubbedConsole(colors),
        ]
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        scrub_event,
        structlog.processors.JSONRenderer(),
    ]


def configure_logging(
    fmt: Literal["json", "console"] = "json",
    level: str = "INFO",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr by default) in ``fmt``.

    Safe to call again: the previous handler is replaced, never stacked.
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"log format must be json or console, not {fmt!r}")
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    out = stream if stream is not None else sys.stderr

    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=_renderer_chain(fmt, out),
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # Record fields no line of ours shows (the caller's file and line, the thread and
    # process): not gathered, as the Logging HOWTO's "Optimization" section advises for
    # a program that logs a lot. A sixth of a log line's cost.
    logging._srcfile = None  # the documented way to skip the caller lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
    for name in _TRANSLATED_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests (and the CLI after reading the config) configure more than once.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """The logger every module uses: ``log = get_logger(__name__)``."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
