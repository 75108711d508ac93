"""Browser security headers for server-rendered pages: a strict Content-Security-Policy (scripts
and styles only from our own origin, so no inline script can run), no framing, no sniffing.

A pure ASGI middleware, so it costs nothing on streamed responses (Server-Sent Events). Paths
that serve third-party pages of their own (FastAPI's /docs loads Swagger UI with inline
scripts) are left alone; a header a route set itself wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNTOUCHED_PATHS = ("/docs", "/redoc")


def origin_of(url: str) -> str:
    """``https://host:port/path`` -> ``https://host:port``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(*, form_targets: Iterable[str] = ()) -> str:
    """The policy of every page. ``form_targets`` are other origins a form may post to or be
    redirected to after posting (Chromium applies form-action to the redirects as well)."""
    form_action = " ".join(["'self'", *sorted({origin_of(t) for t in form_targets})])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "manifest-src 'self'",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, csp: str, https: bool) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        }
        if https:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(UNTOUCHED_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
