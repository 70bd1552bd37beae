"""Smoke test of a running gateway: liveness, readiness, one short generation, and where
Ollama runs the model.

    python scripts/smoke.py                                   # http://127.0.0.1:8000
    python scripts/smoke.py --url https://candidate---liftoff-xyz.a.run.app --token "$ID_TOKEN" \\
        --model llama3.1:8b
    python scripts/smoke.py --model llama3.1:8b --ollama-url http://127.0.0.1:11434 --require-gpu

Checks ``GET /healthz``, ``GET /readyz`` (waiting up to ``--wait`` seconds while the model
loads), that ``GET /v1/models`` lists ``--model`` (the deployed model; without it, the first
model listed is used), and one ``POST /v1/chat/completions`` of a few tokens. Prints one line
per check and exits 0 when all pass, 1 on the first failure (with what was answered), 2 on
bad usage.

Where the model runs: with ``--ollama-url`` (Ollama itself, e.g. through a port-forward:
the gateway never exposes it) the script reads Ollama's ``GET /api/ps`` after the generation
(``size`` and ``size_vram`` of each loaded model, ollama ``docs/api.md``) and reports the
share in GPU memory; ``--ollama-log FILE`` (``-``: stdin) reads Ollama's server log instead,
for platforms where Ollama is unreachable (a Cloud Run sidecar): its ``msg="inference
compute"`` lines name the library each device runs on (``discover/types.go``), ``cpu`` when
no GPU could be used. ``--require-gpu`` fails the test when the model is not entirely in GPU
memory (``/api/ps``) or Ollama found no GPU (log). Ollama falls back to the CPU without an
error, e.g. when the NVIDIA driver is older than its release needs.

``--token`` (or ``LIFTOFF_SMOKE_TOKEN``) is sent as ``Authorization: Bearer`` — a Google
identity token for Cloud Run's IAM; ``--api-key`` (or ``LIFTOFF_SMOKE_API_KEY``) as
``x-api-key`` for the gateway's own keys, so both can be given at once. Standard library
only: deploy workflows run it with any Python 3.11, and it runs from stdin
(``python - ARGS < scripts/smoke.py``) inside the gateway's container.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PROMPT = "Reply with one word: hello."
# What Ollama logs per inference device (discover/types.go): library=CUDA, ROCm, Metal...
# or library=cpu when it found no GPU it can use.
_INFERENCE_COMPUTE = re.compile(r'msg="inference compute".*?\blibrary=("?)([^\s"]*)\1')


class SmokeFailure(Exception):
    """A check failed; the message says which and what was answered."""


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


def _with_tag(name: str) -> str:
    """Ollama's name for a model: ``llama3.2`` is ``llama3.2:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


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


def served_models(gateway: Gateway) -> list[str]:
    """The model ids of ``GET /v1/models``."""
    status, body = gateway.request("GET", "/v1/models")
    try:
        if status == 200:
            return [str(item["id"]) for item in body["data"]]
    except (KeyError, TypeError):
        pass
    raise SmokeFailure(f"GET /v1/models answered HTTP {status}: {_brief(body)}")


def check_model(gateway: Gateway, model: str | None) -> str:
    """The model to generate with: ``model`` if the gateway lists it, else the first listed."""
    models = served_models(gateway)
    if model is None:
        if not models:
            raise SmokeFailure("GET /v1/models lists no model")
        return models[0]
    if model not in models and _with_tag(model) not in map(_with_tag, models):
        raise SmokeFailure(f"the gateway does not serve {model}; GET /v1/models lists {models}")
    return model


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


def gpu_share(ollama: Gateway, model: str) -> tuple[float, int]:
    """(share of ``model`` in GPU memory, its size in bytes) from Ollama's ``GET /api/ps``."""
    status, body = ollama.request("GET", "/api/ps")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise SmokeFailure(f"Ollama's GET /api/ps answered HTTP {status}: {_brief(body)}")
    for entry in body["models"]:
        if _with_tag(str(entry.get("name") or entry.get("model"))) == _with_tag(model):
            size, vram = int(entry.get("size") or 0), int(entry.get("size_vram") or 0)
            return (vram / size if size else 0.0), size
    loaded = [entry.get("name") for entry in body["models"]]
    raise SmokeFailure(f"Ollama has not loaded {model} (GET /api/ps lists {loaded})")


def log_libraries(lines: Iterable[str]) -> list[str]:
    """The libraries Ollama's ``inference compute`` log lines name, in order."""
    return [m.group(2) for line in lines if (m := _INFERENCE_COMPUTE.search(line))]


def placement(share: float) -> str:
    """Ollama's own wording (``ollama ps``): ``100% GPU``, ``100% CPU`` or ``48%/52% CPU/GPU``."""
    gpu = round(share * 100)
    if gpu >= 100:
        return "100% GPU"
    if gpu <= 0:
        return "100% CPU"
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


DRIVER_HINT = (
    "Ollama fell back to the CPU: check the NVIDIA driver (`nvidia-smi`); Ollama 0.24.0 needs "
    "531 or newer, 0.30.0 and later 550 or newer"
)


def check_gpu(args: argparse.Namespace, model: str, say: Callable[[str], None]) -> None:
    if args.ollama_url:
        ollama = Gateway(args.ollama_url.rstrip("/"), timeout=args.timeout)
        share, size = gpu_share(ollama, model)
        where = f"{model} {placement(share)} ({size / 1e9:.1f} GB)"
        if args.require_gpu and share < 1.0:
            raise SmokeFailure(f"Ollama's GET /api/ps: {where}. {DRIVER_HINT}")
        say(f"PASS  Ollama GET /api/ps: {where}")
    if args.ollama_log:
        if args.ollama_log == "-":
            libraries = log_libraries(sys.stdin)
        else:
            with open(args.ollama_log, encoding="utf-8") as log:
                libraries = log_libraries(log)
        if not libraries:
            raise SmokeFailure('no msg="inference compute" line in the Ollama log given')
        gpus = [library for library in libraries if library.lower() != "cpu"]
        if args.require_gpu and not gpus:
            raise SmokeFailure(f"Ollama's log: inference on library={libraries[-1]}. {DRIVER_HINT}")
        say(f"PASS  Ollama log: inference compute on {', '.join(gpus or libraries)}")


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
    model = check_model(gateway, args.model)
    say(f"PASS  GET /v1/models lists {model}" + ("" if args.model else " (first listed)"))
    started = time.monotonic()
    text = generate(gateway, model, args.max_tokens)
    elapsed = time.monotonic() - started
    say(f"PASS  POST /v1/chat/completions ({elapsed:.1f} s, {model}): {text.strip()[:60]!r}")
    check_gpu(args, model, say)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("LIFTOFF_SMOKE_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--token", default=os.environ.get("LIFTOFF_SMOKE_TOKEN"))
    parser.add_argument("--api-key", default=os.environ.get("LIFTOFF_SMOKE_API_KEY"))
    parser.add_argument("--model", help="the deployed model (default: the first listed)")
    parser.add_argument("--ollama-url", help="Ollama itself, to read GET /api/ps")
    parser.add_argument("--ollama-log", metavar="FILE", help="Ollama's server log (-: stdin)")
    parser.add_argument(
        "--require-gpu", action="store_true", help="fail unless the model runs on the GPU"
    )
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for readiness")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    for option in ("url", "ollama_url"):
        value = getattr(args, option)
        if value is not None and not value.startswith(("http://", "https://")):
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} must start with http:// or https://, not {value!r}")
    if args.require_gpu and not (args.ollama_url or args.ollama_log):
        parser.error("--require-gpu needs --ollama-url or --ollama-log")
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
