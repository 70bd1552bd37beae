"""Named dependencies the routes take: settings, store, scoring pool and run manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from liftoff.evaluation.config import Settings
from liftoff.evaluation.runs.store import RunStore
from liftoff.evaluation.service.manager import RunManager
from liftoff.evaluation.service.observability import EvaluationMetrics
from liftoff.evaluation.service.scoring import ScoringPool


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> RunStore:
    store: RunStore = request.app.state.store
    return store


def get_pool(request: Request) -> ScoringPool:
    pool: ScoringPool = request.app.state.pool
    return pool


def get_manager(request: Request) -> RunManager:
    manager: RunManager = request.app.state.manager
    return manager


def get_metrics(request: Request) -> EvaluationMetrics:
    metrics: EvaluationMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[RunStore, Depends(get_store)]
PoolDep = Annotated[ScoringPool, Depends(get_pool)]
ManagerDep = Annotated[RunManager, Depends(get_manager)]
MetricsDep = Annotated[EvaluationMetrics, Depends(get_metrics)]
