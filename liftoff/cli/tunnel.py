"""``liftoff tunnel``: the gateway (or the chat UI) on a public HTTPS URL through ngrok, for demos.

Only the Liftoff gateway is ever published, and only with its API keys on. Before opening
anything the command asks the target itself: Ollama's port (11434) and anything that lists
models without a key and is not Liftoff (every Liftoff response carries ``x-request-id``)
are refused, and so is a gateway that answers ``GET /v1/models`` without a key. ngrok can
put its own gate in front, as a traffic policy on the endpoint: basic auth, or an OAuth
login with an allow-list. The tunnel closes on Ctrl-C or SIGTERM.

``--ui`` publishes the chat UI instead, only while the UI itself asks for a password login
(``LIFTOFF_UI_USERS``): its ``/healthz`` says which login it runs. A header login is refused
there: it trusts a proxy in front to set the header, and through the tunnel anyone could.

The ngrok agent is run by pyngrok (the ``tunnel`` extra), with ``NGROK_AUTHTOKEN``;
``PYNGROK_NGROK_PATH`` points pyngrok at another agent binary (the tests use a fake one).
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from enum import StrEnum
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
from pydantic import Field, SecretStr
from rich.console import Console
from rich.markup import escape

from liftoff.api.config import get_settings
from liftoff.server.settings import ServiceSettings, SettingsError, load_settings

console = Console(soft_wrap=True)  # snippets stay on one line, ready to paste

OLLAMA_PORT = 11434
PROBE_TIMEOUT_S = 5.0
ENDPOINT_NAME = "liftoff-gateway"
UI_ENDPOINT_NAME = "liftoff-ui"
MAX_CREDENTIALS = 10  # ngrok's basic-auth action takes up to 10, passwords of 8-128 characters
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")


class OAuthProvider(StrEnum):
    """Providers for which ngrok runs a managed OAuth app (no client id needed)."""

    google = "google"
    github = "github"
    gitlab = "gitlab"
    microsoft = "microsoft"
    linkedin = "linkedin"
    twitch = "twitch"


class TunnelError(Exception):
    """Why no tunnel opens: a message, and the exit code (2 refused, 1 failed)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TunnelSettings(ServiceSettings):
    """ngrok's own variable, under its standard name."""

    ngrok_authtoken: SecretStr | None = Field(default=None, validation_alias="NGROK_AUTHTOKEN")


@dataclass(frozen=True)
class EdgeAuth:
    """ngrok's own gate in front of the gateway, as the endpoint's traffic policy.

    >>> EdgeAuth(basic_auth=("demo:correct-horse",)).traffic_policy()["on_http_request"]
    [{'actions': [{'type': 'basic-auth', 'config': {'credentials': ['demo:correct-horse']}}]}]
    """

    basic_auth: tuple[str, ...] = ()
    oauth: OAuthProvider | None = None
    allow_emails: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.basic_auth and self.oauth:
            raise TunnelError("choose --basic-auth or --oauth, not both")
        if (self.allow_emails or self.allow_domains) and not self.oauth:
            raise TunnelError("--oauth-allow-email/--oauth-allow-domain need --oauth PROVIDER")
        if len(self.basic_auth) > MAX_CREDENTIALS:
            raise TunnelError(f"ngrok takes at most {MAX_CREDENTIALS} --basic-auth credentials")
        for credential in self.basic_auth:
            user, colon, password = credential.partition(":")
            if not (user and colon):
                raise TunnelError(f"--basic-auth takes USER:PASSWORD, not {user or '(empty)'!r}")
            if not 8 <= len(password) <= 128:
                raise TunnelError(f"--basic-auth password for {user!r}: ngrok needs 8-128 chars")
        for email in self.allow_emails:
            if not _EMAIL.fullmatch(email):
                raise TunnelError(f"--oauth-allow-email: not an email address: {email!r}")
        for domain in self.allow_domains:
            if not _DOMAIN.fullmatch(domain):
                raise TunnelError(f"--oauth-allow-domain: not a domain: {domain!r}")

    @property
    def users(self) -> list[str]:
        return [credential.partition(":")[0] for credential in self.basic_auth]

    def traffic_policy(self) -> dict[str, Any] | None:
        """ngrok Traffic Policy: the basic-auth action, or oauth then deny the unlisted."""
        if self.basic_auth:
            action = {"type": "basic-auth", "config": {"credentials": list(self.basic_auth)}}
            return {"on_http_request": [{"actions": [action]}]}
        if self.oauth is None:
            return None
        rules: list[dict[str, Any]] = [
            {"actions": [{"type": "oauth", "config": {"provider": self.oauth.value}}]}
        ]
        if self.allow_emails or self.allow_domains:
            # Validated above: no quote can reach the CEL expression.
            email = "actions.ngrok.oauth.identity.email"
            allowed = [f"{email} in [{', '.join(repr(e) for e in self.allow_emails)}]"]
            allowed += [f"{email}.endsWith('@{domain}')" for domain in self.allow_domains]
            rules.append(
                {"expressions": [f"!({' || '.join(allowed)})"], "actions": [{"type": "deny"}]}
            )
        return {"on_http_request": rules}

    def describe(self, then: str = "the gateway's API key") -> str:
        if self.basic_auth:
            return f"ngrok basic auth (users: {', '.join(self.users)}), then {then}"
        if self.oauth:
            allowed = [*self.allow_emails, *(f"*@{d}" for d in self.allow_domains)]
            who = f" (allowed: {', '.join(allowed)})" if allowed else " (any account!)"
            return f"a {self.oauth.value} login at ngrok{who}, then {then}"
        return then


def tunnel(
    url: Annotated[
        str | None,
        typer.Option(help="The gateway to publish (default: http://127.0.0.1:PORT, PORT as set)."),
    ] = None,
    basic_auth: Annotated[
        list[str] | None,
        typer.Option(
            metavar="USER:PASSWORD",
            help="ngrok asks for this login before traffic reaches the gateway (repeatable).",
        ),
    ] = None,
    oauth: Annotated[
        OAuthProvider | None,
        typer.Option(help="ngrok asks browsers for this login first (ngrok's managed OAuth app)."),
    ] = None,
    oauth_allow_email: Annotated[
        list[str] | None,
        typer.Option(metavar="EMAIL", help="With --oauth: only this account (repeatable)."),
    ] = None,
    oauth_allow_domain: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DOMAIN", help="With --oauth: only accounts of this email domain (repeatable)."
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="A domain reserved in your ngrok account, e.g. liftoff-demo.ngrok.app."),
    ] = None,
    ui: Annotated[
        bool,
        typer.Option(
            "--ui", help="Publish the chat UI (default http://127.0.0.1:8003); needs its login."
        ),
    ] = False,
) -> None:
    """Publish the gateway (never Ollama) on a public HTTPS URL through ngrok; Ctrl-C closes it."""
    try:
        edge = EdgeAuth(
            tuple(basic_auth or ()),
            oauth,
            tuple(oauth_allow_email or ()),
            tuple(oauth_allow_domain or ()),
        )
        options = _endpoint_options(edge, domain)
        target = _ui_target(url) if ui else _target(url)
        token = _authtoken()
        if ui:
            check_ui_target(target)
        else:
            check_target(target)
        _serve(target, token, options, edge, ui=ui)
    except TunnelError as exc:
        console.print(
            f"[red]{'refused' if exc.code == 2 else 'failed'}:[/red] {escape(exc.message)}"
        )
        raise typer.Exit(exc.code) from exc


def check_target(url: str) -> None:
    """Refuse unless ``url`` is a Liftoff gateway that demands a key (asked, not assumed)."""
    if httpx.URL(url).port == OLLAMA_PORT:
        raise TunnelError(
            f"{url} is Ollama's port: Ollama has no authentication and is never published. "
            "Publish the gateway instead (liftoff tunnel --url http://127.0.0.1:8000)."
        )
    try:
        tags = httpx.get(f"{url}/api/tags", timeout=PROBE_TIMEOUT_S)
        models = httpx.get(f"{url}/v1/models", timeout=PROBE_TIMEOUT_S)
    except httpx.TransportError as exc:
        raise TunnelError(
            f"nothing answers at {url} ({exc}): start the gateway first (`make run` or "
            "`liftoff up`), or point --url at it",
            code=1,
        ) from exc
    if tags.status_code == 200 and "x-request-id" not in tags.headers:
        raise TunnelError(
            f"{url} lists models without a key and is not the Liftoff gateway: it looks like "
            "a raw Ollama server, which is never published. Publish the gateway instead."
        )
    if "x-request-id" not in models.headers:
        raise TunnelError(f"{url} does not answer like the Liftoff gateway (GET /v1/models)")
    if models.status_code == 200:
        raise TunnelError(
            f"the gateway at {url} answers without an API key: turn authentication on before "
            "publishing it, e.g. restart it with LIFTOFF_API_KEYS=<key1>,<key2> (or "
            "LIFTOFF_API_KEYS_FILE=<file>)"
        )
    if models.status_code != 401:
        raise TunnelError(f"the gateway at {url} answered {models.status_code}", code=1)


def check_ui_target(url: str) -> None:
    """Refuse unless ``url`` is the Liftoff chat UI and it asks for a password login."""
    try:
        health = httpx.get(f"{url}/healthz", timeout=PROBE_TIMEOUT_S)
    except httpx.TransportError as exc:
        raise TunnelError(
            f"nothing answers at {url} ({exc}): start the chat UI first (`make run` or "
            "`liftoff up`), or point --url at it",
            code=1,
        ) from exc
    try:
        answer = health.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("service") != "liftoff-ui":
        raise TunnelError(f"{url} does not answer like the Liftoff chat UI (GET /healthz)")
    logins = str(answer.get("login", "off")).split("+")
    if "header" in logins:
        raise TunnelError(
            f"the chat UI at {url} accepts a header login (LIFTOFF_UI_AUTH_HEADER): it trusts a "
            "proxy in front to set that header, and through a tunnel anyone could set it. "
            "Restart it with LIFTOFF_UI_USERS=user:password only before publishing it"
        )
    if "password" not in logins:
        raise TunnelError(
            f"the chat UI at {url} asks for no login: turn it on before publishing it, e.g. "
            "restart it with LIFTOFF_UI_USERS=<user>:<password> (8 characters or more)"
        )


def _serve(
    target: str, token: str, options: dict[str, Any], edge: EdgeAuth, *, ui: bool = False
) -> None:
    try:
        from pyngrok import conf, ngrok
        from pyngrok.exception import PyngrokError
    except ImportError as exc:
        raise TunnelError("pyngrok is missing: uv sync --extra tunnel") from exc
    # Its own session: Ctrl-C reaches this process only, which closes the endpoint first.
    config = conf.PyngrokConfig(auth_token=token, start_new_session=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    public_url: str | None = None
    try:
        with console.status("Starting the ngrok agent"):
            endpoint = ngrok.connect(
                target,
                proto="http",
                name=UI_ENDPOINT_NAME if ui else ENDPOINT_NAME,
                pyngrok_config=config,
                **options,
            )
            agent = ngrok.get_ngrok_process(config).proc
        public_url = endpoint.public_url
        if ui:
            _print_ui_welcome(str(public_url), target, edge)
        else:
            _print_welcome(str(public_url), target, edge)
        while agent.poll() is None:
            time.sleep(0.5)
        raise TunnelError(f"the ngrok agent exited with code {agent.returncode}", code=1)
    except PyngrokError as exc:
        raise TunnelError(f"ngrok: {exc}", code=1) from exc
    except KeyboardInterrupt:
        console.print("\nClosing the tunnel...")
    finally:
        if public_url is not None:
            try:
                ngrok.disconnect(public_url, pyngrok_config=config)
            except PyngrokError as exc:
                console.print(
                    f"[yellow]could not close {public_url} cleanly:[/yellow] {escape(str(exc))}"
                )
        ngrok.kill(pyngrok_config=config)
    console.print("Tunnel closed.")


def _endpoint_options(edge: EdgeAuth, domain: str | None) -> dict[str, Any]:
    """Agent endpoint fields (ngrok agent config v3) beyond the upstream pyngrok fills in."""
    options: dict[str, Any] = {}
    policy = edge.traffic_policy()
    if policy is not None:
        options["traffic_policy"] = policy
    if domain:
        host = domain.removeprefix("https://").rstrip("/")
        if not _DOMAIN.fullmatch(host):
            raise TunnelError(f"--domain: not a domain: {domain!r}")
        options["url"] = f"https://{host}"
    return options


def _authtoken() -> str:
    token = load_settings(TunnelSettings).ngrok_authtoken
    if token is None or not token.get_secret_value().strip():
        raise TunnelError(
            "NGROK_AUTHTOKEN is not set: copy your authtoken from "
            "https://dashboard.ngrok.com/get-started/your-authtoken (a free account works) "
            "and export NGROK_AUTHTOKEN=<token>"
        )
    return token.get_secret_value().strip()


def _target(url: str | None) -> str:
    if url is None:
        try:
            settings = get_settings()
        except SettingsError as exc:  # names the variables, never a value
            raise TunnelError(f"the gateway settings are invalid, give --url:\n{exc}") from None
        host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{settings.port}"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TunnelError(f"--url: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TunnelError(f"--url needs http(s)://host:port, not {url!r}")
    if parsed.path not in ("", "/") or parsed.query:
        raise TunnelError(f"--url takes the gateway's base URL, without a path: {url!r}")
    return url.rstrip("/")


def _ui_target(url: str | None) -> str:
    if url is None:
        from liftoff.ui.config import Settings as UISettings

        try:
            port = load_settings(UISettings).port
        except SettingsError as exc:  # names the variables, never a value
            raise TunnelError(f"the chat UI settings are invalid, give --url:\n{exc}") from None
        return f"http://127.0.0.1:{port}"
    return _target(url)


def _print_ui_welcome(public_url: str, target: str, edge: EdgeAuth) -> None:
    console.print(f"\n[green]Tunnel open[/green]  {escape(public_url)}  ->  {escape(target)}")
    console.print(f"Visitors need: {escape(edge.describe(then='a login of LIFTOFF_UI_USERS'))}.")
    console.print(f"\nOpen {escape(public_url)} in a browser and log in.")
    console.print("\nPress Ctrl-C to close the tunnel.")


def _print_welcome(public_url: str, target: str, edge: EdgeAuth) -> None:
    console.print(f"\n[green]Tunnel open[/green]  {escape(public_url)}  ->  {escape(target)}")
    console.print(f"Callers need: {escape(edge.describe())}.")
    if edge.oauth:
        # The login is a browser session, and every gateway route but the health checks
        # wants a key header, which a browser sends only from code: its console does.
        console.print(
            f"\nOpen {escape(public_url)}/healthz in a browser and log in. Then, in that tab's "
            "developer console:\n"
        )
        console.print(_browser_fetch(), markup=False, highlight=False)
        console.print(
            "\ncurl and SDKs cannot pass an OAuth login: use --basic-auth (or no ngrok gate) "
            "to demo them."
        )
    else:
        setup = "Set LIFTOFF_API_KEY to one of the gateway's keys (never the whole list)"
        if edge.basic_auth:
            setup += " and NGROK_BASIC_AUTH to USER:PASSWORD as given to --basic-auth"
        console.print(f"\n{setup}, then:\n")
        console.print("# curl", markup=False, highlight=False)
        console.print(_curl(public_url, edge), markup=False, highlight=False)
        console.print("\n# OpenAI SDK (Python)", markup=False, highlight=False)
        console.print(_sdk(public_url, edge), markup=False, highlight=False)
    console.print("\nPress Ctrl-C to close the tunnel.")


def _browser_fetch() -> str:
    return (
        'fetch("/v1/models", {headers: {Authorization: "Bearer " + prompt("gateway key")}})'
        ".then(r => r.json()).then(console.log)"
    )


def _curl(public_url: str, edge: EdgeAuth) -> str:
    if edge.basic_auth:  # ngrok's login takes Authorization, so the key goes as x-api-key
        credentials = '-u "$NGROK_BASIC_AUTH" -H "x-api-key: $LIFTOFF_API_KEY"'
    else:
        credentials = '-H "Authorization: Bearer $LIFTOFF_API_KEY"'
    return f"curl {public_url}/v1/models {credentials}"


def _sdk(public_url: str, edge: EdgeAuth) -> str:
    lines = ["import base64, os" if edge.basic_auth else "import os", "from openai import OpenAI"]
    lines.append('key = os.environ["LIFTOFF_API_KEY"]')
    client = f'client = OpenAI(base_url="{public_url}/v1", api_key=key'
    if edge.basic_auth:
        lines.append('basic = base64.b64encode(os.environ["NGROK_BASIC_AUTH"].encode()).decode()')
        client += ', default_headers={"Authorization": f"Basic {basic}", "x-api-key": key}'
    lines += [
        client + ")",
        "model = client.models.list().data[0].id",
        "reply = client.chat.completions.create("
        'model=model, messages=[{"role": "user", "content": "Hello"}])',
        "print(reply.choices[0].message.content)",
    ]
    return "\n".join(lines)
