"""Line editing for a dumb serial terminal: what a technician's PuTTY or minicom sends.

The terminal sends raw bytes (the port is raw, nothing edits lines for us) and shows what
we echo. The editor turns bytes into finished lines and echoes the edits as VT100
sequences every terminal emulator understands:

- printable characters (UTF-8) insert at the cursor; Backspace (``0x7f`` or ``0x08``)
  deletes before it; ``Ctrl-U`` clears the line, ``Ctrl-W`` the word before the cursor;
- ``←``/``→``, ``Home``/``End``, ``Ctrl-A``/``Ctrl-E`` move; ``↑``/``↓`` walk the history;
- ``Tab`` asks the completer;
- ``Enter`` (CR, LF or CR LF) ends the line; ``Ctrl-C`` abandons it; ``Ctrl-D`` on an
  empty line ends the session.

Anything else — other control bytes, unknown escape sequences, invalid UTF-8, line noise
from a baud-rate mismatch — is dropped without a word, and a line never grows past
``max_length`` (the bell rings instead), so garbage on the wire costs nothing but the
bytes. In secret mode (passwords) nothing is echoed and the line stays out of the history.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["Completer", "EditorEvent", "EndOfInput", "Interrupted", "LineDone", "LineEditor"]

MAX_LINE = 512
"""Longest line accepted: a command with its arguments fits many times over."""
MAX_HISTORY = 100
_MAX_ESCAPE = 16
"""An escape sequence longer than this is noise, not a key."""

BELL = "\a"
Completer = Callable[[str], Sequence[str]]
"""The words that may follow the text before the cursor (``"net s"`` → ``["set", "show"]``)."""


@dataclass(frozen=True, slots=True)
class LineDone:
    text: str


@dataclass(frozen=True, slots=True)
class Interrupted:
    """Ctrl-C: the line was abandoned."""


@dataclass(frozen=True, slots=True)
class EndOfInput:
    """Ctrl-D on an empty line."""


EditorEvent = LineDone | Interrupted | EndOfInput


class _State(Enum):
    TEXT = 0
    ESCAPE = 1  # after ESC
    SEQUENCE = 2  # after ESC [ or ESC O


class LineEditor:
    """Feed it bytes, get finished lines and the bytes to echo. Not thread-safe; one per
    session."""

    def __init__(self, *, completer: Completer | None = None,
                 max_length: int = MAX_LINE) -> None:
        self._completer = completer
        self._max_length = max_length
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._state = _State.TEXT
        self._sequence = ""
        self._last_was_cr = False
        self.history: list[str] = []
        self._history_index = 0
        self._saved = ""
        self.secret = False
        self._buffer: list[str] = []
        self._cursor = 0
        self._echo: list[str] = []

    # --- the session's side ---------------------------------------------------------------

    def start_line(self, *, secret: bool = False) -> None:
        """Begin a new line (after the prompt was written)."""
        self.secret = secret
        self._buffer = []
        self._cursor = 0
        self._history_index = len(self.history)
        self._saved = ""

    @property
    def text(self) -> str:
        return "".join(self._buffer)

    def feed(self, data: bytes) -> tuple[list[EditorEvent], str]:
        """The events in ``data`` and the text to echo. Bytes after a finished line are
        handled as the start of the next one (type-ahead)."""
        events: list[EditorEvent] = []
        self._echo = []
        for char in self._decoder.decode(data):
            event = self._char(char)
            if event is not None:
                events.append(event)
        return events, "".join(self._echo)

    # --- characters -------------------------------------------------------------------------

    def _char(self, char: str) -> EditorEvent | None:
        if self._state is _State.ESCAPE:
            if char in "[O":
                self._state, self._sequence = _State.SEQUENCE, ""
            else:
                self._state = _State.TEXT  # ESC x (Alt-x): ignored
            return None
        if self._state is _State.SEQUENCE:
            self._sequence += char
            if "\x40" <= char <= "\x7e":  # the final byte of a CSI sequence
                self._state = _State.TEXT
                self._key(self._sequence)
            elif len(self._sequence) > _MAX_ESCAPE or char < " ":
                self._state = _State.TEXT
            return None
        was_cr, self._last_was_cr = self._last_was_cr, char == "\r"
        if char in "\r\n":
            if char == "\n" and was_cr:
                return None  # the LF of CR LF
            return self._finish()
        if char == "\x1b":
            self._state = _State.ESCAPE
        elif char in "\x7f\x08":
            self._backspace()
        elif char == "\x03":
            self._echo.append("^C\r\n")
            self._buffer, self._cursor = [], 0
            return Interrupted()
        elif char == "\x04":
            if not self._buffer:
                return EndOfInput()
        elif char == "\x15":
            self._kill(0)
        elif char == "\x17":
            self._kill_word()
        elif char == "\x01":
            self._move_to(0)
        elif char == "\x05":
            self._move_to(len(self._buffer))
        elif char == "\t":
            self._complete()
        elif char.isprintable():
            self._insert(char)
        return None

    def _key(self, sequence: str) -> None:
        final = sequence[-1]
        if final == "A":
            self._recall(-1)
        elif final == "B":
            self._recall(+1)
        elif final == "C":
            self._move_to(self._cursor + 1)
        elif final == "D":
            self._move_to(self._cursor - 1)
        elif final == "H" or sequence in ("1~", "7~"):
            self._move_to(0)
        elif final == "F" or sequence in ("4~", "8~"):
            self._move_to(len(self._buffer))
        elif sequence == "3~" and self._cursor < len(self._buffer):  # Delete
            del self._buffer[self._cursor]
            self._redraw_tail(erase=1)

    # --- edits ------------------------------------------------------------------------------

    def _finish(self) -> LineDone:
        text = self.text
        self._echo.append("\r\n")
        if not self.secret and text.strip() and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[:-MAX_HISTORY]
        self._buffer, self._cursor = [], 0
        self._history_index = len(self.history)
        return LineDone(text)

    def _insert(self, text: str) -> None:
        if len(self._buffer) + len(text) > self._max_length:
            self._echo.append(BELL)
            return
        self._buffer[self._cursor:self._cursor] = list(text)
        self._cursor += len(text)
        if self.secret:
            return
        self._echo.append(text)
        self._redraw_tail()

    def _backspace(self) -> None:
        if self._cursor == 0:
            return
        self._cursor -= 1
        del self._buffer[self._cursor]
        if not self.secret:
            self._echo.append("\b")
            self._redraw_tail(erase=1)

    def _kill(self, start: int) -> None:
        removed = self._cursor - start
        if removed <= 0:
            return
        del self._buffer[start:self._cursor]
        self._cursor = start
        if not self.secret:
            self._echo.append("\b" * removed)
            self._redraw_tail(erase=removed)

    def _kill_word(self) -> None:
        start = self._cursor
        while start > 0 and self._buffer[start - 1] == " ":
            start -= 1
        while start > 0 and self._buffer[start - 1] != " ":
            start -= 1
        self._kill(start)

    def _move_to(self, position: int) -> None:
        position = max(0, min(position, len(self._buffer)))
        if self.secret or position == self._cursor:
            self._cursor = position
            return
        if position < self._cursor:
            self._echo.append(f"\x1b[{self._cursor - position}D")
        else:
            self._echo.append("".join(self._buffer[self._cursor:position]))
        self._cursor = position

    def _redraw_tail(self, erase: int = 0) -> None:
        """Rewrite from the cursor to the end (``erase`` cells beyond it blanked), then put
        the terminal's cursor back."""
        tail = "".join(self._buffer[self._cursor:])
        self._echo.append(tail + " " * erase)
        back = len(tail) + erase
        if back:
            self._echo.append(f"\x1b[{back}D")

    def _replace_line(self, text: str) -> None:
        old = len(self._buffer)
        self._move_to(0)
        self._buffer = list(text[:self._max_length])
        self._cursor = 0
        if not self.secret:
            self._echo.append("".join(self._buffer) + " " * max(0, old - len(self._buffer)))
            back = max(0, old - len(self._buffer))
            if back:
                self._echo.append(f"\x1b[{back}D")
        self._cursor = len(self._buffer)

    def _recall(self, step: int) -> None:
        if self.secret or not self.history:
            return
        index = max(0, min(self._history_index + step, len(self.history)))
        if index == self._history_index:
            return
        if self._history_index == len(self.history):
            self._saved = self.text
        self._history_index = index
        self._replace_line(self.history[index] if index < len(self.history) else self._saved)

    def _complete(self) -> None:
        if self.secret or self._completer is None or self._cursor != len(self._buffer):
            return
        text = self.text
        options = sorted(set(self._completer(text)))
        word = text.rsplit(" ", 1)[-1]
        if not options:
            self._echo.append(BELL)
            return
        common = _common_prefix(options)
        if len(options) == 1:
            common += " "
        if len(common) > len(word):
            self._insert(common[len(word):])
        elif len(options) > 1:
            # show the choices under the line, then the prompt line again
            self._echo.append("\r\n" + "  ".join(options) + "\r\n")
            self._echo.append(_REPRINT)


_REPRINT = "\x00reprint\x00"
"""Placeholder in the echo: the terminal puts the prompt and the line back here."""


def _common_prefix(words: Sequence[str]) -> str:
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def reprint_marker() -> str:
    return _REPRINT
