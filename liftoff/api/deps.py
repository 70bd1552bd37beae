"""Named dependencies the routes take: the settings, the generation core built at start,
and the caller (the request's record: key id, client, tokens used).

They are ``async`` so FastAPI calls them on the event loop instead of a thread pool hop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from liftoff.api.config import Settings
from liftoff.api.generation import Generator
from liftoff.server.context import RequestInfo, request_info


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_generator(request: Request) -> Generator:
    generator: Generator = request.app.state.generator
    return generator


async def get_caller(request: Request) -> RequestInfo:
    """Who the request is for; the core records the tokens it used on it."""
    return request_info(request)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
GeneratorDep = Annotated[Generator, Depends(get_generator)]
CallerDep = Annotated[RequestInfo, Depends(get_caller)]
