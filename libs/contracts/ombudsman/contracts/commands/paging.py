"""Paging, the same for every service's lists: a query names a window (`offset`, `limit`), a reply
is a `Page` of `items` with the `total` matching the filter."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Paging(BaseModel):
    """The window a list query asks for (a service may narrow `limit`'s bounds)."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=1000)


class Page(BaseModel):
    """One page of a list: `items`, the `total` matching the filter, and the window asked for."""

    items: list[Any]
    total: int
    offset: int
    limit: int

    @classmethod
    def of(cls, result: Any, offset: int, limit: int) -> Page:
        """The page of a service's reply (`{items, total}`), or of a whole list cut to the window."""
        if isinstance(result, list):
            return cls(items=result[offset : offset + limit], total=len(result), offset=offset, limit=limit)
        result = result or {}
        items = list(result.get("items") or [])
        return cls(items=items, total=int(result.get("total", len(items))), offset=offset, limit=limit)
