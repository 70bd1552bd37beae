"""Smoke test of a running gateway: liveness, readiness and one short generation.

    python scripts/smoke.py                                   # http://127.0.0.1:8000
    python scripts/smoke.py --url https://candidate---liftoff-xyz.a.run.app --token "$ID_TOKEN"

Checks ``GET /healthz``, ``GET /readyz`` (waiting up to ``--wait`` seconds while the model
loads) and one ``POST /v1/chat/completions`` of a few tokens. Prints one line per check and
exits 0 when all pass, 1 on the first failure (with what was answered), 2 on bad usage.

``--token`` (or ``LIFTOFF_SMOKE_TOKEN``) is sent as ``Authorization: Bearer`` — a Google
identity token for Cloud Run's IAM; ``--api-key`` (or ``LIFTOFF_SMOKE_API_KEY``) as
``x-api-key`` for the gateway's own keys, so both can be given at once. Standard library
only: deploy workflows run it with any Python 3.11.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PROMPT = "Reply with one word: hello."


class SmokeFailure(Exception):
    """A check failed; the message says which and what the gateway answered."""


@dataclass
class Gateway:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON or text); connection errors raise ``OSError``."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _parse(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _parse(exc.read())


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _brief(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return text if len(text) <= 300 else text[:300] + "..."


def wait_for_200(gateway: Gateway, path: str, wait: float, *, interval: float = 2.0) -> Any:
    """GET ``path`` until it answers 200, for at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            status, body = gateway.request("GET", path)
            last = f"HTTP {status}: {_brief(body)}"
            if status == 200:
                return body
            if status in (401, 403):  # waiting will not fix credentials
                raise SmokeFailure(f"GET {path} answered {last} (check --token / --api-key)")
        except OSError as exc:
            last = f"no answer ({exc})"
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"GET {path} not 200 after {wait:.0f} s; last: {last}")
        time.sleep(interval)


def pick_model(gateway: Gateway) -> str:
    status, body = gateway.request("GET", "/v1/models")
    try:
        if status == 200:
            return str(body["data"][0]["id"])
    except (KeyError, IndexError, TypeError):
        pass
    raise SmokeFailure(f"GET /v1/models answered HTTP {status}: {_brief(body)}")


def generate(gateway: Gateway, model: str, max_tokens: int) -> str:
    """One short chat completion; returns its text, which must not be empty."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    status, answer = gateway.request("POST", "/v1/chat/completions", body)
    if status != 200:
        raise SmokeFailure(f"POST /v1/chat/completions answered HTTP {status}: {_brief(answer)}")
    try:
        text = answer["choices"][0]["message"]["content"]
        tokens = answer["usage"]["completion_tokens"]
    except (KeyError, IndexError, TypeError) as exc:
        raise SmokeFailure(f"chat completion lacks {exc}: {_brief(answer)}") from exc
    if not isinstance(text, str) or not text.strip() or not isinstance(tokens, int) or tokens < 1:
        raise SmokeFailure(f"chat completion generated nothing: {_brief(answer)}")
    return text


def run(args: argparse.Namespace, say: Callable[[str], None] = print) -> None:
    headers = {}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    if args.api_key:
        headers["x-api-key"] = args.api_key
    gateway = Gateway(args.url.rstrip("/"), headers, timeout=args.timeout)

    started = time.monotonic()
    wait_for_200(gateway, "/healthz", args.wait)
    say(f"PASS  GET /healthz ({time.monotonic() - started:.1f} s)")
    started = time.monotonic()
    ready = wait_for_200(gateway, "/readyz", args.wait)
    say(f"PASS  GET /readyz ({time.monotonic() - started:.1f} s): {_brief(ready)}")
    model = args.model or pick_model(gateway)
    started = time.monotonic()
    text = generate(gateway, model, args.max_tokens)
    elapsed = time.monotonic() - started
    say(f"PASS  POST /v1/chat/completions ({elapsed:.1f} s, {model}): {text.strip()[:60]!r}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("LIFTOFF_SMOKE_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--token", default=os.environ.get("LIFTOFF_SMOKE_TOKEN"))
    parser.add_argument("--api-key", default=os.environ.get("LIFTOFF_SMOKE_API_KEY"))
    parser.add_argument("--model", help="model id (default: the first of GET /v1/models)")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for readiness")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, not {args.url!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (SmokeFailure, OSError) as exc:  # OSError: the connection broke mid-check
        print(f"FAIL  {exc}", file=sys.stderr)
        print(f"smoke test FAILED against {args.url}", file=sys.stderr)
        return 1
    print(f"smoke test passed against {args.url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
