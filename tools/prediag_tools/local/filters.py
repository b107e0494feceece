"""Event filtering as Lambda's event source mappings apply it (EventBridge pattern syntax).

A record is delivered when at least one of the mapping's patterns matches it (filters are OR'ed).
Supported: exact values, `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (values,
list, or `prefix`/`suffix`), `numeric` ranges, `exists`, `wildcard` and `$or`.
"""

from __future__ import annotations

import fnmatch
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FilterError(ValueError):
    """A pattern that is not valid filter syntax."""


def parse_patterns(patterns: Iterable[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = []
    for pattern in patterns:
        value = json.loads(pattern) if isinstance(pattern, str) else dict(pattern)
        if not isinstance(value, dict):
            raise FilterError(f"a filter pattern must be a JSON object: {pattern!r}")
        parsed.append(value)
    return parsed


def matches_any(patterns: list[dict[str, Any]], event: Mapping[str, Any]) -> bool:
    """True when there are no patterns or at least one matches `event`."""
    return not patterns or any(matches(p, event) for p in patterns)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(alt, event) for alt in rule):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING or not isinstance(value, Mapping):
                return False
            if not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_field(rule, value):
                return False
        else:
            raise FilterError(f"pattern values must be lists or objects, got {rule!r} for {key}")
    return True


def _match_field(rules: list[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(r, Mapping) and r.get("exists") is False for r in rules)
    values = value if isinstance(value, list) else [value]
    return any(_match_one(rule, v) for rule in rules for v in values)


def _match_one(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _equal(rule, value)
    if len(rule) != 1:
        raise FilterError(f"a content filter has exactly one key: {rule!r}")
    kind, arg = next(iter(rule.items()))
    if kind == "exists":
        return bool(arg)
    if kind == "prefix":
        return _prefix(arg, value)
    if kind == "suffix":
        return _suffix(arg, value)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if kind == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(arg))
    if kind == "numeric":
        return _numeric(arg, value)
    if kind == "anything-but":
        return not _anything_but_excludes(arg, value)
    raise FilterError(f"unsupported content filter {kind!r}")


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, int | float) and not isinstance(value, bool):
        number = _as_number(value)
        return number is not None and number == float(expected)
    return bool(expected == value)


def _prefix(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping) and "equals-ignore-case" in arg:
        return isinstance(value, str) and value.lower().startswith(
            str(arg["equals-ignore-case"]).lower()
        )
    return isinstance(value, str) and value.startswith(str(arg))


def _suffix(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping) and "equals-ignore-case" in arg:
        return isinstance(value, str) and value.lower().endswith(
            str(arg["equals-ignore-case"]).lower()
        )
    return isinstance(value, str) and value.endswith(str(arg))


def _anything_but_excludes(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping):
        return _match_one(arg, value)
    excluded = arg if isinstance(arg, list) else [arg]
    return any(_equal(e, value) for e in excluded)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _numeric(arg: Any, value: Any) -> bool:
    number = _as_number(value)
    if number is None:
        return False
    if not isinstance(arg, list) or len(arg) % 2:
        raise FilterError(f"numeric takes operator/value pairs: {arg!r}")
    for op, bound in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise FilterError(f"unknown numeric operator {op!r}")
        if not _NUMERIC_OPS[op](number, float(bound)):
            return False
    return True
