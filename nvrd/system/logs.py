"""Logging set-up: reads well in the journal and on a terminal; never leaks passwords."""

from __future__ import annotations

import logging
import os
import sys
from urllib.parse import urlsplit, urlunsplit

ACCESS_LOGGER = "nvrd.web.access"

# systemd reads a "<N>" prefix on each line as the syslog priority (SyslogLevelPrefix=).
_JOURNAL_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class JournalFormatter(logging.Formatter):
    """No timestamp (the journal adds its own), the priority as a prefix."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _JOURNAL_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def setup_logging(level: str = "info", stream: object = None) -> None:
    """Log to stderr, in the journal's format when systemd captures it (it sets
    ``JOURNAL_STREAM``), with local timestamps otherwise."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
    # the web access log is per request: useful when debugging, noise otherwise
    logging.getLogger(ACCESS_LOGGER).setLevel(
        logging.INFO if level == "debug" else logging.WARNING)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
