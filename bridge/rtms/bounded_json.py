"""JSON whose integers fit a signed 64-bit column, for everything a peer or a webhook sender writes.

Python's `json` turns a 5,000-digit number into a `ValueError` (the int-string limit) and a 25-digit one into an int
that overflows SQLite and PostgreSQL later. Here a number outside int64 is refused at parse time, with the path of
the field that holds it, so the caller can answer "field X: number out of range" instead of failing somewhere deep.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["INT64_MAX", "INT64_MIN", "NumberOutOfRange", "loads"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_DIGITS = 20  # with a sign: anything longer is out of range without converting it


class NumberOutOfRange(ValueError):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"integer out of range (signed 64-bit) at {path or 'top level'}")


class _Huge:
    """Stands in for an out-of-range literal until its path is known."""


def _path_of_huge(value: Any, path: str = "") -> str | None:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _Huge):
            return where
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def loads(text: str | bytes) -> Any:
    """`json.loads`, refusing integers outside int64 with `NumberOutOfRange` (a `ValueError`) naming the field."""
    found = False

    def parse_int(literal: str) -> int | _Huge:
        nonlocal found
        if len(literal) <= _MAX_DIGITS:
            number = int(literal)
            if INT64_MIN <= number <= INT64_MAX:
                return number
        found = True
        return _Huge()

    value = json.loads(text, parse_int=parse_int)
    if found:
        raise NumberOutOfRange(_path_of_huge(value) or "")
    return value
