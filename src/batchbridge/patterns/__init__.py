"""EventBridge event patterns: validate, compile, match one or many rules, explain and lint.

Public API (the package imports nothing of the project but :mod:`batchbridge.errors`):

* :func:`matches`, :func:`compile_pattern`, :func:`validate`, :class:`CompiledPattern`;
* :class:`RuleMatcher` for many rules at once;
* :func:`explain` and :class:`Explanation`; :func:`lint` and :class:`LintWarning`;
* :func:`format_invalid_pattern_message` for the API's ``InvalidEventPatternException`` text.

Invalid patterns raise :class:`batchbridge.errors.PatternError` whose ``reason`` is AWS's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchbridge.errors import PatternError
from batchbridge.patterns.evaluate import matches_compiled
from batchbridge.patterns.explain import BranchCheck, Explanation, FieldCheck, explain
from batchbridge.patterns.jsontext import LocatedPatternError
from batchbridge.patterns.lint import LintWarning, lint
from batchbridge.patterns.matcher import RuleMatcher
from batchbridge.patterns.model import CompiledPattern
from batchbridge.patterns.parse import (
    MAX_COMBINATIONS,
    MAX_PATTERN_LENGTH,
    compile_pattern,
    format_invalid_pattern_message,
    validate,
)


def matches(
    pattern: Mapping[str, Any] | str | bytes | CompiledPattern, event: Mapping[str, Any] | str
) -> bool:
    """Whether ``event`` matches ``pattern``; raises :class:`PatternError` for an invalid pattern."""
    return matches_compiled(compile_pattern(pattern), event)


__all__ = [
    "MAX_COMBINATIONS",
    "MAX_PATTERN_LENGTH",
    "BranchCheck",
    "CompiledPattern",
    "Explanation",
    "FieldCheck",
    "LintWarning",
    "LocatedPatternError",
    "PatternError",
    "RuleMatcher",
    "compile_pattern",
    "explain",
    "format_invalid_pattern_message",
    "lint",
    "matches",
    "validate",
]
