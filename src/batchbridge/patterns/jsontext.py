"""A streaming JSON reader that reports errors and locations the way EventBridge does.

EventBridge reads an event pattern with a streaming JSON parser (Jackson, under aws/event-ruler) and
validates it token by token, so both syntax errors and pattern errors carry the parser's position:
``Event pattern is not valid. Reason: <reason>\\n at [Source: (String)"<text>"; line: L, column: C]``.

This reader reproduces the parts of that behaviour a user can see:

* syntax error texts (``Unrecognized token 'x': was expecting (JSON String, Number, Array, Object or
  token 'null', 'true' or 'false')``, ``Unexpected character (''' (code 39)): was expecting
  double-quote to start field name``, ...);
* the reported position is the parser's *current* location, 1-based column: after a field name the
  parser has already read the value's first character (the whole literal for numbers, ``true``,
  ``false``, ``null``); a string value counts as read only once its text was asked for, until then the
  location is just after its opening quote;
* text after the closing brace of the pattern is never read (the ruler stops there), so it is ignored.
"""

from __future__ import annotations

import enum
from typing import NoReturn

from batchbridge.errors import PatternError

VALID_VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_MAX_SNIPPET = 500


class LocatedPatternError(PatternError):
    """A :class:`PatternError` that also knows where in the pattern text the parser stood."""

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(reason)
        self.line = line
        self.column = column


def source_suffix(text: str, line: int, column: int) -> str:
    """Jackson's location suffix: ``\\n at [Source: (String)"..."; line: L, column: C]``.

    Jackson shows at most 500 characters of the source and says how many it left out.
    """
    snippet = text if len(text) <= _MAX_SNIPPET else text[:_MAX_SNIPPET]
    cut = f"[truncated {len(text) - _MAX_SNIPPET} chars]" if len(text) > _MAX_SNIPPET else ""
    return f'\n at [Source: (String)"{snippet}"{cut}; line: {line}, column: {column}]'


class Tok(enum.Enum):
    """Token kinds, named as Jackson names them."""

    START_OBJECT = "{"
    END_OBJECT = "}"
    START_ARRAY = "["
    END_ARRAY = "]"
    FIELD_NAME = "field"
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    TRUE = "true"
    FALSE = "false"
    NULL = "null"

    @property
    def is_numeric(self) -> bool:
        return self is Tok.INT or self is Tok.FLOAT


_WS = frozenset(" \t\r\n")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _char_desc(ch: str) -> str:
    code = ord(ch)
    if code < 32:
        return f"(CTRL-CHAR, code {code})"
    return f"('{ch}' (code {code}))"


def _is_ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


class JsonStream:
    """Pull tokens one at a time; ``text`` holds the current field name or scalar text."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._pos = 0
        self._loc = 0
        self._stack: list[str] = []  # "o" or "a" per open container
        self._need_comma = False
        self._pending: tuple[Tok, str, int, int] | None = None
        self._string_end = 0
        self._string_loc = 0
        self.token: Tok | None = None
        self.text = ""
        self.name = ""

    # -- locations and errors -------------------------------------------------------------------
    def location(self) -> tuple[int, int]:
        """Line and 1-based column of the parser's current position."""
        pos = self._loc
        line = self.source.count("\n", 0, pos) + 1
        column = pos - (self.source.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def fail(self, reason: str) -> NoReturn:
        """Raise a pattern error at the current location."""
        line, column = self.location()
        raise LocatedPatternError(reason, line, column)

    def finish(self) -> str:
        """Read the current string value completely (Jackson's ``getText``) and return its text."""
        if self.token is Tok.STRING:
            self._loc = max(self._loc, self._string_end)
        return self.text

    # -- scanning -------------------------------------------------------------------------------
    def _skip_ws(self) -> str:
        src = self.source
        n = len(src)
        while self._pos < n and src[self._pos] in _WS:
            self._pos += 1
        if self._pos >= n:
            return ""
        ch = src[self._pos]
        self._pos += 1
        self._loc = self._pos
        if ch == "/":
            self.fail(
                "Unexpected character ('/' (code 47)): maybe a (non-standard) comment? (not recognized as "
                "one since Feature 'ALLOW_COMMENTS' not enabled for parser)"
            )
        return ch

    def _eof(self) -> NoReturn:
        self._loc = len(self.source)
        if self._stack:
            kind = "OBJECT" if self._stack[-1] == "o" else "ARRAY"
            self.fail(f"Unexpected end-of-input: expected close marker for {kind}")
        self.fail("Unexpected end-of-input")

    def _read_string(self) -> str:
        src = self.source
        out: list[str] = []
        i = self._pos
        n = len(src)
        while True:
            j = i
            while j < n and src[j] != '"' and src[j] != "\\" and src[j] >= " ":
                j += 1
            out.append(src[i:j])
            if j >= n:
                self._pos = self._loc = n
                self.fail("Unexpected end-of-input: was expecting closing quote for a string value")
            ch = src[j]
            if ch == '"':
                self._pos = j + 1
                return "".join(out)
            if ch < " ":
                self._loc = j + 1
                self.fail(
                    f"Illegal unquoted character ({_char_desc(ch)[1:-1]}): has to be escaped using "
                    "backslash to be included in string value"
                )
            if j + 1 >= n:
                self._loc = n
                self.fail("Unexpected end-of-input in character escape sequence")
            esc = src[j + 1]
            if esc == "u":
                digits = src[j + 2 : j + 6]
                if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    self._loc = j + 2
                    self.fail("Unexpected character: expected a hex-digit for character escape sequence")
                out.append(chr(int(digits, 16)))
                i = j + 6
            elif esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i = j + 2
            else:
                self._loc = j + 2
                self.fail(f"Unrecognized character escape {_char_desc(esc)[1:-1]}")

    def _read_number(self, first: str) -> tuple[Tok, str]:
        src = self.source
        n = len(src)
        start = self._pos - 1
        i = self._pos
        if first == "-":
            if i >= n or not src[i].isdigit():
                self._loc = min(i + 1, n)
                found = _char_desc(src[i]) if i < n else "end-of-input"
                self.fail(
                    f"Unexpected character {found} in numeric value: expected digit (0-9) to follow "
                    "minus sign, for valid numeric value"
                )
            first = src[i]
            i += 1
        if first == "0" and i < n and src[i].isdigit():
            self._loc = i + 1
            self.fail("Invalid numeric value: Leading zeroes not allowed")
        while i < n and src[i].isdigit():
            i += 1
        kind = Tok.INT
        if i < n and src[i] == ".":
            kind = Tok.FLOAT
            i += 1
            if i >= n or not src[i].isdigit():
                self._loc = min(i + 1, n)
                self.fail("Unexpected character in numeric value: Decimal point not followed by a digit")
            while i < n and src[i].isdigit():
                i += 1
        if i < n and src[i] in "eE":
            kind = Tok.FLOAT
            i += 1
            if i < n and src[i] in "+-":
                i += 1
            if i >= n or not src[i].isdigit():
                self._loc = min(i + 1, n)
                self.fail("Unexpected character in numeric value: Exponent indicator not followed by a digit")
            while i < n and src[i].isdigit():
                i += 1
        self._pos = self._loc = i
        return kind, src[start:i]

    def _read_literal(self, first: str) -> tuple[Tok, str]:
        src = self.source
        i = self._pos
        for word, tok in (("true", Tok.TRUE), ("false", Tok.FALSE), ("null", Tok.NULL)):
            if word[0] == first and src.startswith(word[1:], i):
                end = i + len(word) - 1
                if end >= len(src) or not _is_ident_part(src[end]):
                    self._pos = self._loc = end
                    return tok, word
        if not (first.isalpha() or first in "_$"):
            self.fail(f"Unexpected character {_char_desc(first)}: expected a valid value {VALID_VALUES}")
        j = i
        while j < len(src) and _is_ident_part(src[j]) and j - i < 256:
            j += 1
        self._pos = self._loc = j
        self.fail(f"Unrecognized token '{first}{src[i:j]}': was expecting {VALID_VALUES}")

    def _read_value(self, ch: str) -> tuple[Tok, str]:
        if ch == "":
            self._eof()
        if ch == '"':
            self._string_loc = self._pos
            text = self._read_string()
            self._string_end = self._pos
            return Tok.STRING, text
        if ch == "{":
            self._stack.append("o")
            self._need_comma = False
            return Tok.START_OBJECT, "{"
        if ch == "[":
            self._stack.append("a")
            self._need_comma = False
            return Tok.START_ARRAY, "["
        if ch == "-" or ch.isdigit():
            return self._read_number(ch)
        if ch in "]}":
            self.fail(f"Unexpected character {_char_desc(ch)}: expected a value")
        return self._read_literal(ch)

    def _close(self, ch: str) -> Tok:
        want = "o" if ch == "}" else "a"
        if not self._stack or self._stack[-1] != want:
            expected = "']'" if self._stack and self._stack[-1] == "a" else "'}'"
            if not self._stack:
                self.fail(f"Unexpected close marker '{ch}': expected a value")
            self.fail(f"Unexpected close marker '{ch}': expected {expected}")
        self._stack.pop()
        self._need_comma = True
        return Tok.END_OBJECT if ch == "}" else Tok.END_ARRAY

    def next_token(self) -> Tok | None:
        """Advance to the next token; ``None`` at the end of input outside any container."""
        if self._pending is not None:
            tok, text, loc, end = self._pending
            self._pending = None
            self.token, self.text = tok, text
            self._string_end = end
            self._loc = max(self._loc, loc)
            return tok
        ch = self._skip_ws()
        if not self._stack:
            if self.token is not None:
                return None
            if ch == "":
                return None
            tok, text = self._read_value(ch)
            return self._set(tok, text)
        ctx = self._stack[-1]
        if ch in ("}", "]"):
            return self._set(self._close(ch), ch)
        if self._need_comma:
            if ch == "":
                self._eof()
            if ch != ",":
                what = "Object" if ctx == "o" else "Array"
                self.fail(
                    f"Unexpected character {_char_desc(ch)}: was expecting comma to separate {what} entries"
                )
            ch = self._skip_ws()
        if ctx == "a":
            if ch == "":
                self._eof()
            tok, text = self._read_value(ch)
            self._need_comma = tok not in (Tok.START_OBJECT, Tok.START_ARRAY)
            return self._set(tok, text)
        if ch == "":
            self._eof()
        if ch != '"':
            self.fail(
                f"Unexpected character {_char_desc(ch)}: was expecting double-quote to start field name"
            )
        name = self._read_string()
        colon = self._skip_ws()
        if colon != ":":
            if colon == "":
                self._eof()
            self.fail(
                f"Unexpected character {_char_desc(colon)}: "
                "was expecting a colon to separate field name and value"
            )
        value_ch = self._skip_ws()
        vtok, vtext = self._read_value(value_ch)
        if vtok is Tok.STRING:
            loc = self._string_loc
            self._loc = loc
        else:
            loc = self._loc
        self._need_comma = vtok not in (Tok.START_OBJECT, Tok.START_ARRAY)
        self._pending = (vtok, vtext, loc, self._string_end)
        self.name = name
        return self._set(Tok.FIELD_NAME, name)

    def _set(self, tok: Tok, text: str) -> Tok:
        self.token = tok
        self.text = text
        if tok is Tok.STRING:
            self._loc = self._string_loc
        return tok
