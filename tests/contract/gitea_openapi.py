"""Validate forge responses against Gitea's own OpenAPI (swagger 2.0) document.

``gitea-swagger-v1.json`` beside this file is Gitea's document (upstream main @545ed923, MIT),
copied from the shared reference so the contract tests need nothing outside the repository.

go-swagger documents Go pointer fields without ``x-nullable``, while Gitea sends ``null`` for unset
optional objects (``milestone``, ``closed_at``, ``merged_by``...). Real Gitea responses would fail a
literal reading, so every property that is not listed as required also accepts ``null``. Nothing else
is relaxed.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).with_name("gitea-swagger-v1.json")


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _nullable(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items()}
        props = out.get("properties")
        if isinstance(props, dict):
            required = set(out.get("required", []))
            out["properties"] = {
                name: prop if name in required else {"anyOf": [prop, {"type": "null"}]} for name, prop in props.items()
            }
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


@cache
def _definitions() -> dict[str, Any]:
    return _nullable(copy.deepcopy(spec()["definitions"]))


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Path templates, most specific (fewest parameters, longest) first."""
    items = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{(filepath|branch|name)\\\}", r"(?P<\1>.+)", re.escape(template))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        items.append((re.compile(f"^{pattern}$"), template))
    items.sort(key=lambda item: (item[1].count("{"), -len(item[1])))
    return items


def template_for(method: str, path: str) -> str | None:
    """The spec's path template for a concrete API path (without the /api/v1 prefix)."""
    for pattern, template in _templates():
        if pattern.match(path) and method.lower() in spec()["paths"][template]:
            return template
    return None


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    """The schema Gitea documents for ``status``; None when the response has no body."""
    operation = spec()["paths"][template][method.lower()]
    response = operation["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"{method} {template}: Gitea documents no {status} response")
    if "$ref" in response:
        response = spec()["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response.get("schema")


def validate(method: str, path: str, status: int, body: Any) -> str:
    """Check one response; return the template it matched. Raises AssertionError naming the problem."""
    template = template_for(method, path)
    if template is None:
        raise AssertionError(f"{method} {path}: no such operation in Gitea's API")
    schema = response_schema(method, template, status)
    if schema is None:
        return template
    root = {**_nullable(copy.deepcopy(schema)), "definitions": _definitions()}
    errors = sorted(jsonschema.Draft4Validator(root).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        raise AssertionError(f"{method} {template} {status}: at {where}: {first.message}")
    return template


def operation_id(method: str, template: str) -> str:
    return str(spec()["paths"][template][method.lower()].get("operationId", f"{method} {template}"))
