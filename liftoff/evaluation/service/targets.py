"""Which endpoints runs may generate against, and which key each one gets.

A run's target is a URL its caller chooses, and the service calls it with its own network
position (and, unchecked, its own key): a way to steal the key, reach cloud metadata
addresses, or probe the service's network. So:

- the configured target (``LIFTOFF_EVAL_TARGET``, the gateway by default) and the base URLs
  in ``LIFTOFF_EVAL_TARGETS`` are the allow-list; a URL matches an entry when scheme, host,
  port and path are the same (``http://Gateway:80/v1/`` is ``http://gateway/v1``);
- any other URL only with ``LIFTOFF_EVAL_ALLOW_ANY_TARGET=true``, and then only at a public
  address (checked when connecting: ``liftoff.evaluation.runs.target.PublicAddressesOnly``);
- the service's own key (``LIFTOFF_EVAL_TARGET_API_KEY`` / ``OPENAI_API_KEY``) goes to the
  configured target alone; other targets get the key their caller gives, or none;
- credentials in a URL, queries and fragments are refused, and so is every redirect
  (``Target`` never follows one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from liftoff.evaluation.config import Settings, base_url_problem
from liftoff.evaluation.runs.errors import TargetError
from liftoff.evaluation.runs.target import Target

PARAM = "target.base_url"


@dataclass(frozen=True)
class TargetAccess:
    """How to reach one target: its base URL, the key it gets, whether it must be public."""

    base_url: str
    api_key: str | None
    public_only: bool


class TargetPolicy:
    """The allow-list and key rules above, from the service's settings.

    >>> policy = TargetPolicy("http://gateway:8000/v1", [], allow_any=False, service_key="sk-1")
    >>> policy.access("http://GATEWAY:8000/v1/", None).api_key
    'sk-1'
    >>> policy.access("http://attacker.example/v1", None)
    Traceback (most recent call last):
    ...
    liftoff.evaluation.runs.errors.TargetError: ...
    """

    def __init__(
        self, default: str, others: Sequence[str], *, allow_any: bool, service_key: str | None
    ) -> None:
        self.default = default
        self.allowed = {_identity(url): url for url in [default, *others]}
        self.allow_any = allow_any
        self.service_key = service_key

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        key = settings.target_api_key.get_secret_value() if settings.target_api_key else None
        return cls(
            settings.target,
            settings.allowed_targets[1:],
            allow_any=settings.allow_any_target,
            service_key=key or None,
        )

    def access(self, base_url: str | None, caller_key: str | None) -> TargetAccess:
        """How a run reaches ``base_url`` (None: the configured target) with the caller's
        key; raises ``TargetError`` (a 400 naming ``target.base_url``) when it may not."""
        if base_url is None:
            base_url = self.default
        problem = base_url_problem(base_url)
        if problem is not None:
            raise TargetError(f"{PARAM} {problem}", param=PARAM)
        identity = _identity(base_url)
        configured = self.allowed.get(identity)
        if configured is not None:
            is_default = identity == _identity(self.default)
            key = caller_key or (self.service_key if is_default else None)
            return TargetAccess(configured, key, public_only=False)
        if not self.allow_any:
            raise TargetError(
                f"{PARAM} is not a target this service generates against; it allows "
                f"{', '.join(self.allowed.values())} (an operator adds others with "
                "LIFTOFF_EVAL_TARGETS)",
                param=PARAM,
            )
        return TargetAccess(base_url.rstrip("/"), caller_key, public_only=True)

    def client(self, access: TargetAccess, settings: Settings) -> Target:
        return Target(
            access.base_url,
            api_key=access.api_key,
            retries=settings.retries,
            timeout=settings.request_timeout,
            probe_timeout=settings.probe_timeout,
            public_only=access.public_only,
        )


def _identity(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")
