"""The run target client's transport for targets a caller chose: public addresses only,
each name resolved once and the connection pinned to what was checked."""

from __future__ import annotations

import httpx2
import pytest

from liftoff.evaluation.runs.target import NotPublic, PublicAddressesOnly

PUBLIC = "93.184.215.14"  # a global unicast address (any would do: nothing is sent to it)


def _pinned() -> tuple[PublicAddressesOnly, list[httpx2.Request]]:
    sent: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json={"object": "list", "data": []})

    return PublicAddressesOnly(httpx2.MockTransport(record)), sent


async def test_a_public_address_is_reached_with_its_host_header_and_tls_name() -> None:
    transport, sent = _pinned()
    async with httpx2.AsyncClient(transport=transport) as client:
        response = await client.get(f"https://{PUBLIC}:8443/v1/models")
    assert response.status_code == 200
    (request,) = sent
    assert (request.url.host, request.url.port) == (PUBLIC, 8443)
    assert request.headers["host"] == f"{PUBLIC}:8443"
    assert request.extensions["sni_hostname"] == PUBLIC


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "10.1.2.3", "172.16.0.1",
    "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "[fe80::1]", "[fd00::1]",
    "224.0.0.1",
])  # fmt: skip
async def test_anything_not_public_is_refused_before_a_connection(host: str) -> None:
    transport, sent = _pinned()
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(NotPublic, match="is not at a public address"):
            await client.get(f"http://{host}/v1/models")
    assert sent == []
