"""A FAKE Google OAuth 2.0 token endpoint for service accounts, and service-account key files.

A service account proves itself with a JWT it signs with its private key (RFC 7523, the
"JWT bearer" grant Google documents under "Using OAuth 2.0 for Server to Server
Applications"): ``POST token_uri`` with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
and ``assertion=<JWT>``; the answer is ``{"access_token", "expires_in", "token_type"}``, or
``400 {"error": "invalid_grant", "error_description"}``. This fake checks what Google
checks: an RS256 signature by a key it knows for the issuer, a ``scope``, Google's token
URI as the audience, and a lifetime of at most one hour that has not ended.

``ServiceAccount.key_file`` writes the JSON key file Google's console hands out, pointing
its ``token_uri`` at this fake, for ``GOOGLE_APPLICATION_CREDENTIALS``.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The assertion's "aud" claim is Google's token URI, wherever the request is sent.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@functools.cache
def shared_key() -> rsa.RSAPrivateKey:
    """One RSA key for the test session (2048-bit keys take a while to make)."""
    return new_key()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class ServiceAccount:
    email: str = "liftoff-gateway@test-project.iam.gserviceaccount.com"
    project_id: str = "test-project"
    private_key: rsa.RSAPrivateKey = field(default_factory=lambda: shared_key())
    key_id: str = field(default_factory=lambda: secrets.token_hex(20))

    def key_file(self, path: Path, token_uri: str) -> Path:
        """Write the account's JSON key file (the format the Cloud console downloads)."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": self.project_id,
                    "private_key_id": self.key_id,
                    "private_key": pem,
                    "client_email": self.email,
                    "client_id": "100000000000000000001",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": token_uri,
                    "universe_domain": "googleapis.com",
                }
            )
        )
        return path


@dataclass
class FakeGoogleOAuth:
    """The token endpoint, at ``/token`` of whatever server mounts ``routes()``."""

    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    # Access tokens handed out; the fake Gemini accepts exactly these (shared set).
    access_tokens: set[str] = field(default_factory=set)
    token_uri: str = ""
    grants: int = 0

    def trust(self, account: ServiceAccount) -> ServiceAccount:
        self.accounts[account.email] = account
        return account

    def routes(self) -> list[Route]:
        return [Route("/token", self._token, methods=["POST"])]

    async def _token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return _refused("unsupported_grant_type", "Invalid grant_type.")
        try:
            _, claims = _verified(str(form.get("assertion", "")), self.accounts)
        except ValueError as exc:
            return _refused("invalid_grant", str(exc))
        now = time.time()
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return _refused("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
        if not claims.get("scope"):
            return _refused("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        if (
            not (claims["iat"] - 300 <= now <= claims["exp"])
            or claims["exp"] - claims["iat"] > 3600
        ):
            return _refused("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        self.grants += 1
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _verified(assertion: str, accounts: dict[str, ServiceAccount]) -> tuple[Any, Any]:
    """The JWT's header and claims, once its RS256 signature checks out."""
    try:
        encoded_header, encoded_claims, encoded_signature = assertion.split(".")
        header = json.loads(_unb64(encoded_header))
        claims = json.loads(_unb64(encoded_claims))
        signature = _unb64(encoded_signature)
    except ValueError as exc:
        raise ValueError("Invalid JWT: malformed assertion.") from exc
    account = accounts.get(claims.get("iss", ""))
    if header.get("alg") != "RS256" or account is None:
        raise ValueError("Invalid JWT Signature.")
    try:
        account.private_key.public_key().verify(
            signature,
            f"{encoded_header}.{encoded_claims}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise ValueError("Invalid JWT Signature.") from exc
    return header, claims


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
