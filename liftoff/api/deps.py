"""Named dependencies the routes take: the settings and the generator built at start.

They are ``async`` so FastAPI calls them on the event loop instead of a thread pool hop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from liftoff.api.backends.base import Backend
from liftoff.api.config import Settings
from liftoff.api.generation import Generator


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_generator(request: Request) -> Generator:
    generator: Generator = request.app.state.generator
    return generator


async def get_backend(request: Request) -> Backend:
    generator: Generator = request.app.state.generator
    return generator.backend


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
GeneratorDep = Annotated[Generator, Depends(get_generator)]
BackendDep = Annotated[Backend, Depends(get_backend)]
