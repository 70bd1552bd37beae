"""Named dependencies the routes take: the settings, metrics and the retrieval service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from liftoff.retrieval.config import Settings
from liftoff.retrieval.observability import RetrievalMetrics
from liftoff.retrieval.service import Retrieval


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_retrieval(request: Request) -> Retrieval:
    retrieval: Retrieval = request.app.state.retrieval
    return retrieval


async def get_metrics(request: Request) -> RetrievalMetrics:
    metrics: RetrievalMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RetrievalDep = Annotated[Retrieval, Depends(get_retrieval)]
MetricsDep = Annotated[RetrievalMetrics, Depends(get_metrics)]
