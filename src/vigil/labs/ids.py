"""Identifiers handed to hypervisors and control programs: checked before they leave Vigil."""

from __future__ import annotations

import re

from vigil.labs.driver import LabsError

ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,199}")


def check_id(value: str, what: str) -> str:
    """Return value if it is a plain identifier; refuse anything a program could misread.

    A leading `-` would read as an option, `/` and `..` as a path, spaces or control
    characters as more than one argument to a careless script.
    """
    if not ID_PATTERN.fullmatch(value) or ".." in value:
        raise LabsError(
            f"bad {what} {value[:60]!r}: use letters, digits and _ . : @ - "
            "(up to 200, not starting with - or .)"
        )
    return value
