"""Parse and validate an event pattern the way EventBridge does, with AWS's own error texts.

The walk follows aws/event-ruler's JSON rule compiler token by token, so that the first error met
and its position are the ones AWS reports:

* the pattern must be an object (``Filter is not an object``); every key maps to an object or a
  non-empty array (``"x" must be an object or an array``, ``Empty arrays are not allowed``,
  ``Empty objects are not allowed``); array elements are strings, numbers, ``true``, ``false``,
  ``null`` or a one-key operator object;
* a key given twice: the last one wins (AWS-checked); ``{"a.b": [...]}`` is the path ``a.b``;
* ``$or`` takes an array of at least two objects, at any depth; each alternative multiplies the
  branches gathered so far.  Inside ``$or`` operator names cannot be used as keys;
* limits: at most :data:`MAX_PATTERN_LENGTH` characters (the API's limit for ``EventPattern``) and
  at most :data:`MAX_COMBINATIONS` branches after expanding ``$or`` (EventBridge quota).  Neither
  limit's reason text is published; the texts used here (inferred) name the limit and the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from batchbridge.errors import PatternError
from batchbridge.patterns import operators as ops
from batchbridge.patterns.jsontext import JsonStream, LocatedPatternError, Tok, source_suffix
from batchbridge.patterns.model import Branch, CompiledPattern, Field
from batchbridge.patterns.values import looks_like_ip, parse_ip, path_prefixes
from batchbridge.patterns.wildcards import (
    MAX_COMPLEXITY,
    TOO_COMPLEX,
    wildcard_complexity,
    wildcard_syntax_error,
)

MAX_PATTERN_LENGTH = 4096
MAX_COMBINATIONS = 1000
OR_KEY = "$or"
RESERVED_IN_OR = frozenset(
    {
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    }
)
ERROR_PREFIX = "Event pattern is not valid. Reason: "

Rules = list[dict[str, tuple[ops.Condition, ...]]]


def pattern_text(pattern: Mapping[str, Any] | str | bytes) -> str:
    """The JSON text of a pattern given as text, bytes or a mapping."""
    if isinstance(pattern, bytes):
        return pattern.decode("utf-8", errors="replace")
    if isinstance(pattern, str):
        return pattern
    if isinstance(pattern, Mapping):
        try:
            return json.dumps(pattern, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PatternError(f"Filter is not valid JSON: {exc}") from None
    raise PatternError("Filter is not an object")


def format_invalid_pattern_message(pattern_text: str, error: PatternError) -> str:
    """The full ``InvalidEventPatternException`` message AWS gives for ``error``.

    ``Event pattern is not valid. Reason: <reason>`` followed, for errors found while reading the
    pattern, by Jackson's ``\\n at [Source: (String)"<pattern>"; line: L, column: C]``.
    """
    message = ERROR_PREFIX + error.reason
    if isinstance(error, LocatedPatternError):
        message += source_suffix(pattern_text, error.line, error.column)
    return message


def compile_text(text: str) -> CompiledPattern:
    """Validate and compile pattern text; raises :class:`PatternError` with AWS's reason."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise PatternError(
            f"Event pattern is too long: {len(text)} characters, the maximum is {MAX_PATTERN_LENGTH}"
        )
    stream = JsonStream(text)
    if stream.next_token() is not Tok.START_OBJECT:
        stream.fail("Filter is not an object")
    rules: Rules = []
    _parse_object(stream, rules, [], in_or=False)
    if not rules:
        rules.append({})
    branches: list[Branch] = []
    for rule in rules:
        branch = tuple(Field(path, conds) for path, conds in sorted(rule.items()))
        if branch not in branches:
            branches.append(branch)
    paths = frozenset(f.path for b in branches for f in b)
    return CompiledPattern(text, tuple(branches), paths, path_prefixes(paths))


def _extended(path: list[str], step: str) -> str:
    return ".".join([*path, step]) if path else step


def _parse_object(stream: JsonStream, rules: Rules, path: list[str], *, in_or: bool) -> None:
    fields_present = False
    while stream.next_token() is not Tok.END_OBJECT:
        fields_present = True
        step = stream.name
        if step == OR_KEY:
            _parse_or(stream, rules, path)
            continue
        if in_or and step in RESERVED_IN_OR:
            stream.fail(f"{step} is Ruler reserved fieldName which cannot be used inside {OR_KEY}.")
        tok = stream.next_token()
        if tok is Tok.START_OBJECT:
            _parse_object(stream, rules, [*path, step], in_or=in_or)
        elif tok is Tok.START_ARRAY:
            _write_rules(stream, rules, _extended(path, step))
        else:
            stream.fail(f'"{step}" must be an object or an array')
    if not fields_present:
        stream.fail("Empty objects are not allowed")


def _parse_or(stream: JsonStream, rules: Rules, path: list[str]) -> None:
    current = [dict(r) for r in rules]
    rules.clear()
    if stream.next_token() is not Tok.START_ARRAY:
        stream.fail(f"It must be an Array followed with {OR_KEY}.")
    count = 0
    while (tok := stream.next_token()) is not Tok.END_ARRAY:
        count += 1
        if tok is not Tok.START_OBJECT:
            stream.fail(f"Only JSON object is allowed in array of {OR_KEY} relationship.")
        alternative = [dict(r) for r in current] or [{}]
        _parse_object(stream, alternative, path, in_or=True)
        rules.extend(alternative)
        if len(rules) > MAX_COMBINATIONS:
            raise PatternError(
                f"Event pattern is too complex: $or expands to more than {MAX_COMBINATIONS} combinations"
            )
    if count < 2:
        stream.fail(f"There must have at least 2 Objects in {OR_KEY} relationship.")


def _write_rules(stream: JsonStream, rules: Rules, name: str) -> None:
    values: list[ops.Condition] = []
    keys: set[tuple[Any, ...]] = set()
    while (tok := stream.next_token()) is not Tok.END_ARRAY:
        if tok is Tok.START_OBJECT:
            cond = _match_expression(stream)
        elif tok is Tok.STRING:
            text = stream.finish()
            cond = ops.Exact(text, parse_ip(text) if looks_like_ip(text) else None)
        elif tok is Tok.INT or tok is Tok.FLOAT:
            cond = ops.Exact(_number(stream.text))
        elif tok is Tok.TRUE:
            cond = ops.Exact(True)
        elif tok is Tok.FALSE:
            cond = ops.Exact(False)
        elif tok is Tok.NULL:
            cond = ops.Exact(None)
        else:
            stream.fail("Match value must be String, number, true, false, or null")
        if cond.key not in keys:
            keys.add(cond.key)
            values.append(cond)
    if not values:
        stream.fail("Empty arrays are not allowed")
    if not rules:
        rules.append({})
    conditions = tuple(values)
    for rule in rules:
        rule[name] = conditions


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _expect_end(stream: JsonStream, reason: str = "Only one key allowed in match expression") -> None:
    if stream.next_token() is not Tok.END_OBJECT:
        stream.fail(reason)


def _match_expression(stream: JsonStream) -> ops.Condition:
    if stream.next_token() is not Tok.FIELD_NAME:
        stream.fail("Match expression name not found")
    kind = stream.name
    if kind == "exactly":
        if stream.next_token() is not Tok.STRING:
            stream.fail("exact match pattern must be a string")
        cond: ops.Condition = ops.Exact(stream.finish())
        _expect_end(stream)
        return cond
    if kind in ("prefix", "suffix"):
        tok = stream.next_token()
        if tok is Tok.START_OBJECT:
            return _affix_ignore_case(stream, kind)
        if tok is not Tok.STRING:
            stream.fail(f"{kind} match pattern must be a string")
        text = stream.finish()
        cond = ops.Prefix(text) if kind == "prefix" else ops.Suffix(text)
        _expect_end(stream)
        return cond
    if kind == "numeric":
        if stream.next_token() is not Tok.START_ARRAY:
            stream.fail("Value of numeric must be an array.")
        cond = _numeric(stream)
        _expect_end(stream, "Too many elements in numeric expression")
        return cond
    if kind == "anything-but":
        return _anything_but(stream)
    if kind == "exists":
        tok = stream.next_token()
        if tok is not Tok.TRUE and tok is not Tok.FALSE:
            stream.fail("exists match pattern must be either true or false.")
        cond = ops.Exists(tok is Tok.TRUE)
        _expect_end(stream)
        return cond
    if kind == "cidr":
        if stream.next_token() is not Tok.STRING:
            stream.fail("prefix match pattern must be a string")
        cond = _cidr(stream, stream.finish())
        _expect_end(stream)
        return cond
    if kind == "equals-ignore-case":
        if stream.next_token() is not Tok.STRING:
            stream.fail("equals-ignore-case match pattern must be a string")
        cond = ops.EqualsIgnoreCase(stream.finish())
        _expect_end(stream)
        return cond
    if kind == "wildcard":
        if stream.next_token() is not Tok.STRING:
            stream.fail("wildcard match pattern must be a string")
        text = stream.finish()
        _check_wildcard(stream, text)
        cond = ops.wildcard_condition(text)
        _expect_end(stream)
        return cond
    stream.fail(f"Unrecognized match type {kind}")


def _affix_ignore_case(stream: JsonStream, kind: str) -> ops.Condition:
    if stream.next_token() is not Tok.FIELD_NAME:
        stream.fail(f"{kind.capitalize()} expression name not found")
    if stream.name != "equals-ignore-case":
        stream.fail(f"Unsupported {kind} pattern: {stream.name}")
    if stream.next_token() is not Tok.STRING:
        stream.fail("equals-ignore-case match pattern must be a string")
    text = stream.finish()
    cond: ops.Condition = ops.Prefix(text, True) if kind == "prefix" else ops.Suffix(text, True)
    _expect_end(stream)
    _expect_end(stream)
    return cond


def _check_wildcard(stream: JsonStream, text: str) -> None:
    reason = wildcard_syntax_error(text)
    if reason is not None:
        stream.fail(reason)
    if wildcard_complexity(text) > MAX_COMPLEXITY:
        raise PatternError(TOO_COMPLEX)


def _cidr(stream: JsonStream, text: str) -> ops.Cidr:
    parts = text.split("/")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if len(parts) != 2:
        stream.fail("Malformed CIDR, one '/' required")
    address, mask_text = parts
    if _INTEGER.fullmatch(mask_text) is None:
        stream.fail("Malformed CIDR, mask bits must be an integer")
    mask = int(mask_text)
    if mask < 0:
        stream.fail("Malformed CIDR, mask bits must not be negative")
    if not looks_like_ip(address):
        stream.fail(f"Nonstandard IP address: {address}")
    ip = parse_ip(address)
    if ip is None:
        stream.fail(f"Invalid IP address: {address}")
    version, value = ip
    bits = 32 if version == 4 else 128
    if mask > bits - 1:
        stream.fail(f"IPv{version} mask bits must be < {bits}")
    host = (1 << (bits - mask)) - 1
    return ops.Cidr(text, version, value, value | host)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMERIC_OPS = ("=", ">=", ">", "<=", "<")


def _numeric(stream: JsonStream) -> ops.Numeric:
    if stream.next_token() is not Tok.STRING:
        stream.fail(f"Invalid member in numeric match: {stream.text}")
    operator = stream.finish()
    items = [json.dumps(operator)]
    if operator not in _NUMERIC_OPS:
        stream.next_token()
        stream.fail(f"Unrecognized numeric range operator: {operator}")
    tok = stream.next_token()
    if tok is None or not tok.is_numeric:
        name = "equals" if operator == "=" else operator
        stream.fail(f"Value of {name} must be numeric")
    value = float(stream.text)
    items.append(stream.text)
    if operator == "=":
        low, low_open, high, high_open = value, False, value, False
        if stream.next_token() is not Tok.END_ARRAY:
            stream.fail("Too many elements in numeric expression")
    elif operator in ("<", "<="):
        low, low_open, high, high_open = None, False, value, operator == "<"
        if stream.next_token() is not Tok.END_ARRAY:
            stream.fail("Too many elements in numeric expression")
    else:
        low, low_open, high, high_open = value, operator == ">", None, False
        tok = stream.next_token()
        if tok is not Tok.END_ARRAY:
            if tok is not Tok.STRING:
                stream.fail(f"Bad value in numeric range: {stream.text}")
            top_op = stream.finish()
            if top_op not in ("<", "<="):
                stream.fail(f"Bad numeric range operator: {top_op}")
            tok = stream.next_token()
            if tok is None or not tok.is_numeric:
                stream.fail(f"Value of {top_op} must be numeric")
            high, high_open = float(stream.text), top_op == "<"
            items += [json.dumps(top_op), stream.text]
            if stream.next_token() is not Tok.END_ARRAY:
                stream.fail("Too many terms in numeric range expression")
            if value >= high:
                stream.fail("Bottom must be less than top")
    return ops.Numeric(low, low_open, high, high_open, "[" + ", ".join(items) + "]")


_AB_MODES = ("equals-ignore-case", "prefix", "suffix", "wildcard")


def _anything_but(stream: JsonStream) -> ops.Condition:
    mode = "value"
    tok = stream.next_token()
    if tok is Tok.START_OBJECT:
        if stream.next_token() is not Tok.FIELD_NAME:
            stream.fail("Anything-But expression name not found")
        if stream.name not in _AB_MODES:
            stream.fail(f"Unsupported anything-but pattern: {stream.name}")
        mode = stream.name
        tok = stream.next_token()
    if tok not in (Tok.START_ARRAY, Tok.STRING, Tok.INT, Tok.FLOAT):
        stream.fail("Value of anything-but must be an array or single string/number value.")
    values: list[Any] = []
    if tok is Tok.START_ARRAY:
        has_number = has_string = False
        while (item := stream.next_token()) is not Tok.END_ARRAY:
            if item is Tok.STRING:
                values.append(_ab_string(stream, mode))
                has_string = True
            elif mode == "value" and item is not None and item.is_numeric:
                values.append(_number(stream.text))
                has_number = True
            else:
                stream.fail(_ab_type_error(mode, in_list=True))
        if mode == "value" and has_number == has_string:
            stream.fail(
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported"
            )
    elif tok is Tok.STRING:
        values.append(_ab_string(stream, mode))
    elif mode == "value":
        values.append(_number(stream.text))
    else:
        stream.fail(_ab_type_error(mode, in_list=False))
    _expect_end(stream, "Too many elements in numeric expression")
    if mode != "value":
        _expect_end(stream, "Too many elements in numeric expression")
    shown = json.dumps(values if tok is Tok.START_ARRAY else values[0], ensure_ascii=False)
    text = shown if mode == "value" else f'{{"{mode}": {shown}}}'
    return ops.anything_but(mode, values, text)


def _ab_string(stream: JsonStream, mode: str) -> str:
    text = stream.finish()
    if mode in ("prefix", "suffix") and not text:
        stream.fail("Null prefix/suffix not allowed")
    if mode == "wildcard":
        _check_wildcard(stream, text)
    return text


def _ab_type_error(mode: str, *, in_list: bool) -> str:
    if mode == "value":
        return "Inside anything but list, start|null|boolean is not supported."
    if mode == "equals-ignore-case":
        return "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
    if mode == "wildcard":
        return "wildcard match pattern must be a string"
    return "prefix/suffix match pattern must be a string"


def compile_pattern(pattern: Mapping[str, Any] | str | bytes | CompiledPattern) -> CompiledPattern:
    """Validate and compile once; reuse the result for any number of events."""
    if isinstance(pattern, CompiledPattern):
        return pattern
    return compile_text(pattern_text(pattern))


def validate(pattern: Mapping[str, Any] | str | bytes) -> None:
    """Raise :class:`PatternError` with AWS's reason when ``pattern`` is not a valid pattern."""
    compile_pattern(pattern)


def describe_error(pattern: Mapping[str, Any] | str | bytes, error: PatternError) -> str:
    """:func:`format_invalid_pattern_message` for a pattern given in any accepted form."""
    try:
        text = pattern_text(pattern)
    except PatternError:
        text = ""
    return format_invalid_pattern_message(text, error)


__all__ = [
    "ERROR_PREFIX",
    "MAX_COMBINATIONS",
    "MAX_PATTERN_LENGTH",
    "compile_pattern",
    "compile_text",
    "format_invalid_pattern_message",
    "validate",
]
