"""Validation of ``wildcard`` patterns: escapes, consecutive stars, and AWS's complexity limit.

aws/event-ruler's wildcard parser reads the quoted value byte by byte (UTF-8) and reports
``Consecutive wildcard characters at pos N`` and ``Invalid escape character at pos N``, where N is
the byte offset inside the *quoted* value (so one more than the offset in the string).  Only
``\\*`` and ``\\\\`` are valid escapes.

EventBridge also rejects wildcards that would make its matching machine too expensive:
``Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences
after a wildcard character``.  The service computes this on its machine and does not publish the
threshold.  The choice made here (inferred): the complexity of a wildcard is the largest number of
positions a matcher can occupy at once over any input (the largest reachable state set of the
pattern's NFA), and values above :data:`MAX_COMPLEXITY` are rejected.  The threshold is set between
the AWS-checked cases: ``arn:aws:events:us-east-1:*:event-bus/*`` (5) and
``/Users/*/dir/dir/dir/dir/dir/doc.txt`` (8) are accepted, ``*:*:*:*:*:event-bus/*`` (13) is not.
"""

from __future__ import annotations

TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
    "after a wildcard character"
)
MAX_COMPLEXITY = 10
_MAX_STATES_EXPLORED = 4000


def wildcard_syntax_error(text: str) -> str | None:
    """AWS's reason when ``text`` is not a well-formed wildcard, else ``None``."""
    data = text.encode("utf-8")
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2A:
            if i + 1 < len(data) and data[i + 1] == 0x2A:
                return f"Consecutive wildcard characters at pos {i + 1}"
        elif byte == 0x5C:
            if i + 1 < len(data) and data[i + 1] in (0x2A, 0x5C):
                i += 2
                continue
            return f"Invalid escape character at pos {i + 1}"
        i += 1
    return None


def _tokens(text: str) -> list[str | None]:
    out: list[str | None] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            out.append(None)
        elif ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 1
        else:
            out.append(ch)
        i += 1
    return out


def _closure(states: set[int], toks: list[str | None]) -> frozenset[int]:
    result = set(states)
    stack = list(states)
    while stack:
        s = stack.pop()
        if s < len(toks) and toks[s] is None and s + 1 not in result:
            result.add(s + 1)
            stack.append(s + 1)
    return frozenset(result)


def wildcard_complexity(text: str, limit: int = MAX_COMPLEXITY) -> int:
    """Largest number of NFA positions active at once; stops early once above ``limit``."""
    toks = _tokens(text)
    if None not in toks:
        return 0
    first_star = toks.index(None)
    alphabet = {t for t in toks if t is not None} | {"\0"}
    start = _closure({0}, toks)
    seen = {start}
    frontier = [start]
    best = 0
    while frontier:
        current = frontier.pop()
        size = sum(1 for s in current if s >= first_star)
        if size > best:
            best = size
            if best > limit:
                return best
        for ch in alphabet:
            nxt: set[int] = set()
            for s in current:
                if s < len(toks):
                    tok = toks[s]
                    if tok is None:
                        nxt.add(s)
                    elif tok == ch:
                        nxt.add(s + 1)
            if not nxt:
                continue
            closed = _closure(nxt, toks)
            if closed not in seen:
                seen.add(closed)
                frontier.append(closed)
                if len(seen) > _MAX_STATES_EXPLORED:
                    return limit + 1
    return best
