"""Errors in FastAPI's own validation shape, so that clients read every 422 the same way."""
from __future__ import annotations

from fastapi import HTTPException, status


def invalid(loc: tuple[str | int, ...], message: str) -> HTTPException:
    """A 422 naming the field, e.g. invalid(("body", "agency_code"), "no such agency")."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": list(loc), "msg": message, "type": "value_error"}])
