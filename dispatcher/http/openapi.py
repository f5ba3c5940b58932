"""`GET /v1/openapi.json`: the OpenAPI 3.1 document of the whole HTTP API.

The document is `openapi.yaml` beside this module, written by hand and kept true by
tests/engine/test_openapi.py, which runs schemathesis against the live service.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from dispatcher.http.api import api_route, json_ok

DOCUMENT = Path(__file__).with_name("openapi.yaml")


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The parsed document (read once; it ships with the code and never changes at run time)."""
    document: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return document


@api_route
async def get_openapi(request: web.Request) -> web.Response:
    return json_ok(openapi_document())
