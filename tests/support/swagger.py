"""Checking response bodies against the SparkProctoring Swagger file's own definitions."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SWAGGER = (
    Path(__file__).resolve().parents[3] / "shared" / "contracts" / "sparkproctoring.swagger.json"
)


@lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    return dict(json.loads(SWAGGER.read_text())["definitions"])


def assert_matches(definition: str, body: Any) -> None:
    """Raise if `body` does not validate against `#/definitions/<definition>` (Draft 4)."""
    schema = {"definitions": definitions(), "$ref": f"#/definitions/{definition}"}
    jsonschema.Draft4Validator(schema).validate(body)


def assert_array_of(definition: str, body: Any) -> None:
    schema = {"definitions": definitions(), "type": "array",
              "items": {"$ref": f"#/definitions/{definition}"}}  # fmt: skip
    jsonschema.Draft4Validator(schema).validate(body)
