"""Per-address limits behind a real proxy hop: user-api believes X-Forwarded-For only from the
configured proxy (FORWARDED_ALLOW_IPS, the chart's userApi.forwardedAllowIps), so two clients
behind it are told apart, and nobody can claim another address, through the proxy or not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from okane_core.localstack import Endpoints
from tests.served import Served
from tests.services.conftest import Stack, start_stack, stop_stack

PROXY_ADDRESS = "127.0.0.9"  # where the proxy's connections to user-api come from
PER_ADDRESS = 4


@pytest.fixture(scope="module")
def proxied_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("proxied-logs"),
        FORWARDED_ALLOW_IPS=PROXY_ADDRESS,
        OKANE_LOGIN_ATTEMPTS_PER_ADDRESS=str(PER_ADDRESS),
    )
    yield running
    stop_stack(running)


def reverse_proxy(upstream: str) -> Starlette:
    """What an ingress controller does: forward, appending the client to X-Forwarded-For."""
    client = httpx.AsyncClient(
        base_url=upstream, transport=httpx.AsyncHTTPTransport(local_address=PROXY_ADDRESS)
    )

    async def forward(request: Request) -> Response:
        assert request.client is not None
        seen = request.headers.get("x-forwarded-for")
        chain = f"{seen}, {request.client.host}" if seen else request.client.host
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "x-forwarded-for")}
        answer = await client.request(
            request.method,
            request.url.path,
            content=await request.body(),
            headers={**headers, "x-forwarded-for": chain},
        )
        return Response(answer.content, answer.status_code, dict(answer.headers))

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@pytest.fixture
async def proxy(proxied_stack: Stack) -> AsyncIterator[str]:
    with Served(reverse_proxy(proxied_stack.api_url)) as served:
        yield served.url


def client(base: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=30)


async def attempts(http: httpx.AsyncClient, n: int, **headers: str) -> list[int]:
    wrong = {"login": "+919000000001", "password": "a guess"}
    return [
        (await http.post("/v1/auth/login", json=wrong, headers=headers)).status_code
        for _ in range(n)
    ]


async def test_clients_behind_the_proxy_are_told_apart_and_cannot_claim_addresses(
    proxied_stack: Stack, proxy: str
) -> None:
    async with client(proxy, "127.0.0.3") as one, client(proxy, "127.0.0.4") as two:
        # The first client claims to be someone else: the proxy appends its real address,
        # and that is the one counted.
        throttled = await attempts(one, PER_ADDRESS + 1, **{"x-forwarded-for": "203.0.113.7"})
        assert throttled == [401] * PER_ADDRESS + [429]
        assert await attempts(two, 1) == [401]  # the other client is not throttled
    # Straight to user-api, X-Forwarded-For is not believed: a client cannot pose as the
    # second one (or spend its allowance).
    async with client(proxied_stack.api_url, "127.0.0.5") as direct:
        spoofed = await attempts(direct, PER_ADDRESS + 1, **{"x-forwarded-for": "127.0.0.4"})
        assert spoofed == [401] * PER_ADDRESS + [429]
    async with client(proxy, "127.0.0.4") as two:
        assert await attempts(two, 1) == [401]
