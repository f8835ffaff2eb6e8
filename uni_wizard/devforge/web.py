"""Request plumbing shared by the routers: the JSON body (Go-style: keys matched case-insensitively), replies."""

from __future__ import annotations

import builtins
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from .errors import unprocessable

__all__ = ["Body", "created", "json_body", "no_content", "ok"]


class Body:
    """A JSON object read the way Go's ``encoding/json`` reads into a struct: field names ignore case."""

    def __init__(self, data: builtins.dict[builtins.str, Any]) -> None:
        self.raw = data
        self._lower = {str(k).lower(): v for k, v in data.items()}

    def has(self, *names: builtins.str) -> builtins.bool:
        return any(n.lower() in self._lower for n in names)

    def get(self, *names: builtins.str, default: Any = None) -> Any:
        for name in names:
            if name.lower() in self._lower:
                return self._lower[name.lower()]
        return default

    def str(self, *names: builtins.str, default: builtins.str = "") -> builtins.str:
        value = self.get(*names)
        if value is None:
            return default
        if not isinstance(value, str):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal {type(value).__name__} into a string")
        return value

    def opt_str(self, *names: builtins.str) -> builtins.str | None:
        return self.str(*names) if self.get(*names) is not None else None

    def bool(self, *names: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self.get(*names)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal {type(value).__name__} into a bool")
        return value

    def opt_bool(self, *names: builtins.str) -> builtins.bool | None:
        return self.bool(*names) if self.get(*names) is not None else None

    def int(self, *names: builtins.str, default: builtins.int = 0) -> builtins.int:
        value = self.get(*names)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal {type(value).__name__} into an integer")
        return value

    def list(self, *names: builtins.str) -> builtins.list[Any] | None:
        value = self.get(*names)
        if value is None:
            return None
        if not isinstance(value, list):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal {type(value).__name__} into a list")
        return value

    def str_list(self, *names: builtins.str) -> builtins.list[builtins.str] | None:
        items = self.list(*names)
        if items is None:
            return None
        if not all(isinstance(i, str) for i in items):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal into a list of strings")
        return [str(i) for i in items]

    def dict(self, *names: builtins.str) -> builtins.dict[builtins.str, Any] | None:
        value = self.get(*names)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise unprocessable(f"[{names[0]}]: cannot unmarshal {type(value).__name__} into an object")
        return value


async def json_body(request: Request) -> Body:
    """FastAPI dependency: the request's JSON object (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return Body({})
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unprocessable(f"invalid JSON body: {exc}") from exc
    if data is None:
        return Body({})
    if not isinstance(data, dict):
        raise unprocessable("invalid JSON body: expected an object")
    return Body(data)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def created(data: Any) -> JSONResponse:
    return JSONResponse(data, status_code=201)


def no_content() -> Response:
    return Response(status_code=204)
