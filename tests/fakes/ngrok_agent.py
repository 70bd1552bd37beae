"""A FAKE ngrok agent: the program pyngrok launches, with no ngrok service behind it.

ngrok's service (and the download of its agent) cannot be reached from a build machine,
so tests meet ngrok at the pyngrok boundary: pyngrok starts this script in place of the
``ngrok`` binary (``PYNGROK_NGROK_PATH``, pyngrok's own setting) and talks to it exactly
as it talks to the real agent:

- ``ngrok start --none --log stdout [--config PATH] [--authtoken TOKEN] [--region R]``
  prints ngrok's logfmt start-up lines (``starting web service ... addr=``, ``client session
  established``, ``tunnel session started``) once the agent API listens on a loopback port;
  without an authtoken (flag, ``NGROK_AUTHTOKEN`` or config file) it fails the way the real
  agent does, with an ``lvl=eror ... err=`` line and exit status 1;
- the agent API (``docs/agent/api.md`` in ngrok/ngrok-docs; ``/api/endpoints`` is the
  config-version-3 resource pyngrok 9 uses, ``/api/tunnels`` the version-2 one):
  ``GET/POST /api/endpoints``, ``GET/DELETE /api/endpoints/<name>``, the same under
  ``/api/tunnels``, and ``GET /api/status``. A started endpoint gets a public URL
  ``https://<random>.ngrok-free.app`` (or the ``url`` asked for). Definitions are checked
  against the agent's v3 endpoint fields and the Traffic Policy rules for the actions used
  (basic-auth: 1-10 ``user:password`` with 8-128 character passwords; oauth: a provider);
  a bad one is answered 400 with the agent's error shape;
- ``ngrok config add-authtoken``, ``ngrok config add-api-key`` and ``ngrok --version``.

Everything is RECORDED as JSON lines in the file named by ``FAKE_NGROK_RECORD``: one
``start`` event (argv, authtoken and where it came from, config path, pid, whether the agent
leads its own session, API URL), one ``request`` event per agent-API call (method, path,
body, status) and a ``stop`` event on SIGTERM/SIGINT (pyngrok's ``kill()`` sends SIGKILL,
which leaves no event: the process is simply gone). Standard library only, so any
``python3`` runs it; tests use :class:`FakeNgrokAgent` to install and read it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import stat
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

AGENT_VERSION = "3.22.1"
RECORD_ENV = "FAKE_NGROK_RECORD"
# Fields of an agent endpoint definition (ngrok agent config v3, "Endpoint configurations").
ENDPOINT_FIELDS = {
    "name", "description", "metadata", "url", "upstream", "traffic_policy",
    "traffic_policy_file", "pooling_enabled", "bindings", "agent_tls_termination",
}  # fmt: skip
UPSTREAM_FIELDS = {"url", "protocol", "proxy_protocol"}
# Fields of a v2 tunnel definition over HTTP ("Tunnel configurations", agent config v2).
TUNNEL_FIELDS = {
    "name", "addr", "proto", "domain", "hostname", "subdomain", "schemes", "basic_auth",
    "oauth", "oidc", "inspect", "host_header", "metadata", "description", "traffic_policy",
    "circuit_breaker", "compression", "ip_restriction", "request_header", "response_header",
    "websocket_tcp_converter", "webhook_verification", "mutual_tls_cas", "labels",
}  # fmt: skip
PHASES = {"on_http_request", "on_http_response", "on_tcp_connect", "inbound", "outbound"}
ACTIONS = {
    "add-headers", "basic-auth", "circuit-breaker", "compress-response", "custom-response",
    "deny", "forward-internal", "jwt-validation", "log", "oauth", "openid-connect",
    "rate-limit", "redirect", "remove-headers", "restrict-ips", "terminate-tls",
    "url-rewrite", "verify-webhook",
}  # fmt: skip
MANAGED_OAUTH = {"github", "gitlab", "google", "linkedin", "microsoft", "twitch"}


class InvalidDefinition(ValueError):
    """A tunnel or endpoint definition the agent refuses (HTTP 400)."""


# The agent ---------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv in (["--version"], ["version"], ["-v"]):
        print(f"ngrok version {AGENT_VERSION}")
        return 0
    if argv[:1] == ["config"]:
        return _config_command(argv[1:])
    if argv[:1] == ["start"]:
        return _start(argv)
    print(f"ERROR:  the fake ngrok agent does not implement {' '.join(argv[:1]) or 'this'}")
    return 1


def _config_command(args: list[str]) -> int:
    flags, positional = _parse(args, values={"--log", "--config"}, switches=set())
    if len(positional) == 2 and positional[0] in ("add-authtoken", "add-api-key"):
        path = flags.get("--config") or str(_default_config())
        _record({"event": "config", "command": positional[0], "config": path})
        saved = "Authtoken" if positional[0] == "add-authtoken" else "API key"
        print(f"{saved} saved to configuration file: {path}")
        return 0
    print(f"ERROR:  the fake ngrok agent does not implement config {' '.join(positional)}")
    return 1


def _start(argv: list[str]) -> int:
    try:
        flags, names = _parse(
            argv[1:],
            values={"--log", "--config", "--authtoken", "--region", "--log-level", "--log-format"},
            switches={"--none", "--all"},
        )
    except InvalidDefinition as exc:
        print(f"ERROR:  {exc}")
        return 1
    config = flags.get("--config") or str(_default_config())
    token, source = _authtoken(flags, Path(config))
    started = {
        "event": "start",
        "argv": argv,
        "authtoken": token,
        "authtoken_source": source,
        "config": flags.get("--config"),
        "region": flags.get("--region"),
        "none": "--none" in flags,
        "names": names,
        "pid": os.getpid(),
        "session_leader": os.getsid(0) == os.getpid(),
    }
    _log("info", "open config file", path=config, err="nil")
    if not token:
        _record({**started, "error": "no authtoken"})
        _log(
            "eror",
            "session closing",
            obj="tunnels.session",
            err="authentication failed: Usage of ngrok requires a verified account and "
            "authtoken.\n\nSign up for an account: https://dashboard.ngrok.com/signup\n"
            "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken"
            "\n\nERR_NGROK_4018",
        )
        return 1

    agent = _Agent()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(agent))
    address = f"127.0.0.1:{server.server_address[1]}"
    _record({**started, "api_url": f"http://{address}"})
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        _record({"event": "stop", "signal": signal.Signals(signum).name})
        stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()  # listening before the log line that tells pyngrok where to look
    _log("info", "starting web service", obj="web", addr=address, allow_hosts="[]")
    _log("info", "client session established", obj="tunnels.session")
    _log("info", "tunnel session started", obj="tunnels.session")
    stopping.wait()
    thread.join(timeout=5)
    server.server_close()
    return 0


def _parse(
    args: list[str], *, values: set[str], switches: set[str]
) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.partition("=")
        if name in values:
            if not equals:
                if not rest:
                    raise InvalidDefinition(f"flag needs an argument: {name}")
                value = rest.pop(0)
            flags[name] = value
        elif arg in switches:
            flags[arg] = "true"
        elif arg.startswith("-"):
            raise InvalidDefinition(f"unknown flag: {name}")
        else:
            positional.append(arg)
    return flags, positional


def _authtoken(flags: dict[str, str], config: Path) -> tuple[str | None, str | None]:
    if flags.get("--authtoken"):
        return flags["--authtoken"], "flag"
    if os.environ.get("NGROK_AUTHTOKEN"):
        return os.environ["NGROK_AUTHTOKEN"], "env"
    if config.is_file():
        found = re.search(r"^\s*authtoken:\s*['\"]?([^'\"\s]+)", config.read_text(), re.M)
        if found:
            return found.group(1), "config"
    return None, None


def _default_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ngrok" / "ngrok.yml"


def _log(level: str, message: str, **fields: str) -> None:
    """One line in ngrok's logfmt, as ``--log stdout --log-format term`` writes it."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    parts = [f"t={when}", f"lvl={level}", f"msg={_quote(message)}"]
    parts += [f"{key}={_quote(value)}" for key, value in fields.items()]
    print(" ".join(parts), flush=True)


def _quote(value: str) -> str:
    return json.dumps(value) if re.search(r"[\s\"=]", value) or not value else value


def _record(event: dict[str, Any]) -> None:
    path = os.environ.get(RECORD_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as record:
            record.write(json.dumps(event) + "\n")


# The agent API -----------------------------------------------------------------------


class _Agent:
    """Running endpoints (config v3) and tunnels (config v2), by name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {"endpoints": {}, "tunnels": {}}

    def start(self, kind: str, definition: dict[str, Any]) -> dict[str, Any]:
        if kind == "endpoints":
            _check_endpoint(definition)
        else:
            _check_tunnel(definition)
        name = str(definition.get("name") or secrets.token_hex(8))
        with self.lock:
            if name in self.resources[kind]:
                raise InvalidDefinition(f"a {kind[:-1]} named {name!r} already exists")
            self.resources[kind][name] = resource = _describe(kind, name, definition)
        _log("info", f"started {kind[:-1]}", obj="tunnels", name=name, url=_public(resource))
        return resource

    def stop(self, kind: str, name: str) -> bool:
        with self.lock:
            return self.resources[kind].pop(name, None) is not None


def _describe(kind: str, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    metrics = {
        "conns": {"count": 0, "gauge": 0, "rate1": 0, "rate5": 0, "rate15": 0, "p50": 0},
        "http": {"count": 0, "rate1": 0, "rate5": 0, "rate15": 0, "p50": 0},
    }
    random_url = f"https://{secrets.token_hex(4)}.ngrok-free.app"
    if kind == "endpoints":
        url = str(definition.get("url") or random_url)
        url = url if "://" in url else f"https://{url}"
        return {
            "id": f"ep_{secrets.token_hex(12)}",
            "name": name,
            "uri": f"/api/endpoints/{name}",
            "url": url,
            "upstream": definition["upstream"],
            "metrics": metrics,
        }
    domain = definition.get("domain") or definition.get("hostname")
    return {
        "name": name,
        "uri": f"/api/tunnels/{name}",
        "public_url": f"https://{domain}" if domain else random_url,
        "proto": "https",
        "config": {"addr": definition["addr"], "inspect": definition.get("inspect", True)},
        "metrics": metrics,
    }


def _public(resource: dict[str, Any]) -> str:
    return str(resource.get("url") or resource.get("public_url"))


def _check_endpoint(definition: dict[str, Any]) -> None:
    _no_unknown(definition, ENDPOINT_FIELDS, "config.EndpointConfig")
    upstream = definition.get("upstream")
    if not isinstance(upstream, dict) or not upstream.get("url"):
        raise InvalidDefinition("endpoint definition needs upstream.url")
    _no_unknown(upstream, UPSTREAM_FIELDS, "config.Upstream")
    if "traffic_policy" in definition:
        _check_policy(definition["traffic_policy"])


def _check_tunnel(definition: dict[str, Any]) -> None:
    _no_unknown(definition, TUNNEL_FIELDS, "config.HTTPv2Tunnel")
    if not definition.get("addr"):
        raise InvalidDefinition("tunnel definition needs addr")
    if "traffic_policy" in definition:
        _check_policy(definition["traffic_policy"])


def _no_unknown(fields: dict[str, Any], known: set[str], kind: str) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InvalidDefinition(f"field {unknown[0]} not found in type {kind}")


def _check_policy(policy: Any) -> None:
    if not isinstance(policy, dict) or not policy:
        raise InvalidDefinition("traffic_policy must be an object of phases")
    for phase, rules in policy.items():
        if phase not in PHASES:
            raise InvalidDefinition(f"unknown traffic policy phase {phase!r}")
        if not isinstance(rules, list):
            raise InvalidDefinition(f"{phase} must be a list of rules")
        for rule in rules:
            expressions = rule.get("expressions", []) if isinstance(rule, dict) else None
            actions = rule.get("actions") if isinstance(rule, dict) else None
            if not isinstance(expressions, list) or not all(
                isinstance(e, str) for e in expressions
            ):
                raise InvalidDefinition(f"{phase}: expressions must be a list of strings")
            if not isinstance(actions, list) or not actions:
                raise InvalidDefinition(f"{phase}: every rule needs a list of actions")
            for action in actions:
                _check_action(action)


def _check_action(action: Any) -> None:
    kind = action.get("type") if isinstance(action, dict) else None
    if kind not in ACTIONS:
        raise InvalidDefinition(f"unknown traffic policy action type {kind!r}")
    config = action.get("config", {})
    if not isinstance(config, dict):
        raise InvalidDefinition(f"{kind}: config must be an object")
    if kind == "basic-auth":
        credentials = config.get("credentials")
        if not isinstance(credentials, list) or not 1 <= len(credentials) <= 10:
            raise InvalidDefinition("basic-auth: credentials must list 1 to 10 user:password")
        for credential in credentials:
            user, colon, password = str(credential).partition(":")
            if not (isinstance(credential, str) and user and colon):
                raise InvalidDefinition("basic-auth: a credential must be user:password")
            if not 8 <= len(password) <= 128:
                raise InvalidDefinition("basic-auth: passwords must be 8 to 128 characters")
    if kind == "oauth":
        provider = config.get("provider")
        if not provider:
            raise InvalidDefinition("oauth: provider is required")
        if provider not in MANAGED_OAUTH and not config.get("client_id"):
            raise InvalidDefinition(f"oauth: {provider} has no managed app; give client_id")


def _handler(agent: _Agent) -> type[BaseHTTPRequestHandler]:
    class AgentAPI(BaseHTTPRequestHandler):
        server_version = f"ngrok/{AGENT_VERSION} (fake)"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the real agent logs API calls only at debug level

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def _route(self, method: str) -> None:
            body: Any = None
            if method == "POST":
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
            status, answer = self._answer(method, self.path.split("?")[0].rstrip("/"), body)
            _record(
                {"event": "request", "method": method, "path": self.path, "body": body,
                 "status": status}
            )  # fmt: skip
            self.send_response(status)
            if answer is None:
                self.end_headers()
                return
            payload = json.dumps(answer).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
            parts = path.split("/")  # "", "api", kind, [name]
            if path == "/api/status" and method == "GET":
                session = {"legs": [{"region": "us", "latency": "21ms"}]}
                status = {"status": "online", "agent_version": AGENT_VERSION}
                return 200, {**status, "session": session, "uri": "/api/status"}
            if path == "/api" and method == "GET":
                return 200, {"uri": "/api", "tunnels": "/api/tunnels"}
            if len(parts) < 3 or parts[1] != "api" or parts[2] not in agent.resources:
                return _error(HTTPStatus.NOT_FOUND, 100, "Not found")
            kind = parts[2]
            if len(parts) == 3 and method == "GET":
                with agent.lock:
                    listed = list(agent.resources[kind].values())
                return 200, {kind: listed, "uri": f"/api/{kind}"}
            if len(parts) == 3 and method == "POST":
                if not isinstance(body, dict):
                    return _error(HTTPStatus.BAD_REQUEST, 100, "invalid JSON body")
                try:
                    return 201, agent.start(kind, body)
                except InvalidDefinition as exc:
                    return _error(HTTPStatus.BAD_REQUEST, 102, "invalid tunnel configuration", exc)
            if len(parts) == 4 and method == "GET":
                with agent.lock:
                    found = agent.resources[kind].get(parts[3])
                return (200, found) if found else _error(HTTPStatus.NOT_FOUND, 100, "not found")
            if len(parts) == 4 and method == "DELETE":
                if agent.stop(kind, parts[3]):
                    return 204, None
                return _error(HTTPStatus.NOT_FOUND, 100, "Tunnel not found")
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, 100, "method not allowed")

    return AgentAPI


def _error(
    status: HTTPStatus, code: int, message: str, detail: Exception | None = None
) -> tuple[int, dict[str, Any]]:
    details = {"err": str(detail)} if detail else {}
    return status, {"error_code": code, "status_code": status, "msg": message, "details": details}


# The test side -----------------------------------------------------------------------


@dataclass(frozen=True)
class FakeNgrokAgent:
    """The fake agent installed in ``directory``: the environment that makes pyngrok run it,
    and what it recorded.

        fake = FakeNgrokAgent.install(tmp_path)
        subprocess.run([...], env={**os.environ, **fake.env()})
        [start] = fake.events("start")
        fake.requests("POST")[0]["body"]["traffic_policy"]
    """

    directory: Path

    @classmethod
    def install(cls, directory: Path) -> FakeNgrokAgent:
        fake = cls(directory)
        fake.config_home.mkdir(parents=True, exist_ok=True)
        # pyngrok executes ngrok_path directly: a wrapper runs this file with this Python.
        fake.ngrok_path.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n'
        )
        fake.ngrok_path.chmod(fake.ngrok_path.stat().st_mode | stat.S_IXUSR)
        return fake

    @property
    def ngrok_path(self) -> Path:
        return self.directory / "ngrok"

    @property
    def config_home(self) -> Path:
        return self.directory / "config"

    @property
    def record(self) -> Path:
        return self.directory / "fake-ngrok-record.jsonl"

    def env(self) -> dict[str, str]:
        """``PYNGROK_NGROK_PATH`` at the fake; pyngrok's config files under ``directory``."""
        return {
            "PYNGROK_NGROK_PATH": str(self.ngrok_path),
            "XDG_CONFIG_HOME": str(self.config_home),
            RECORD_ENV: str(self.record),
        }

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return [e for e in events if kind is None or e["event"] == kind]

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Agent-API calls, the status probes pyngrok makes included."""
        return [r for r in self.events("request") if method is None or r["method"] == method]

    def started_pids(self) -> list[int]:
        return [int(e["pid"]) for e in self.events("start")]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
