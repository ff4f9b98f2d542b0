"""What guards ``agent mcp serve --transport http``: Host/Origin allow-lists always, and a
bearer token, required when the server binds an address other than loopback.

The MCP SDK turns its DNS-rebinding protection off for any host but loopback, and has no
authentication of its own short of an OAuth server. A KB server on ``0.0.0.0`` would then
answer anyone who can reach the port; here it refuses to start without a token, and checks the
token on every request.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr

from agent.errors import ConfigError

_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

Scope = dict[str, Any]
Receive = Any
Send = Any
ASGIApp = Any


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class HttpGuard:
    """The checks for one bound address: the transport security settings and the token."""

    host: str
    token: SecretStr | None
    allowed_hosts: tuple[str, ...] = ()
    token_env: str = "AGENT_MCP_HTTP_TOKEN"  # named in messages: where the token is set

    @classmethod
    def for_bind(
        cls,
        host: str,
        token: SecretStr | None,
        allowed_hosts: list[str] | None = None,
        *,
        token_env: str = "AGENT_MCP_HTTP_TOKEN",
        exposes: str = "read the KB",
    ) -> HttpGuard:
        if token is not None and not token.get_secret_value().strip():
            token = None
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"binding {host} would let anyone who reaches the port {exposes}: set "
                f"{token_env} to a secret (clients send `Authorization: Bearer <it>`), "
                "or bind 127.0.0.1"
            )
        return cls(host, token, tuple(allowed_hosts or ()), token_env)

    def transport_security(self) -> TransportSecuritySettings:
        names = [*_LOOPBACK_HOSTS]
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            names.append(f"[{self.host}]" if ":" in self.host else self.host)
        hosts = [f"{n}:*" for n in names] + [*self.allowed_hosts]
        origins = [f"http://{n}:*" for n in names] + [f"https://{n}:*" for n in names]
        origins += [f"http://{h}" for h in self.allowed_hosts]
        origins += [f"https://{h}" for h in self.allowed_hosts]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )

    def describe(self) -> str:
        auth = f"bearer token required ({self.token_env})" if self.token else "no token"
        allowed = ", ".join(self.transport_security().allowed_hosts)
        return f"{auth}; Host allow-list: {allowed}"

    def wrap(self, app: ASGIApp, *, open_paths: tuple[str, ...] = ()) -> ASGIApp:
        """``app`` behind the token check (unchanged when there is no token); ``open_paths``
        answer without it (a load balancer's liveness probe)."""
        if self.token is None:
            return app
        expected = f"Bearer {self.token.get_secret_value()}".encode()
        body = f'{{"error": "unauthorized: send Authorization: Bearer <{self.token_env}>"}}'

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope.get("path") not in open_paths:
                given = dict(scope.get("headers") or []).get(b"authorization", b"")
                if not hmac.compare_digest(given, expected):
                    await _unauthorized(send, body.encode())
                    return
            await app(scope, receive, send)

        return guarded

    def host_check(self) -> Callable[[str | None, str | None], bool]:
        """Whether a request's ``Host`` (and ``Origin``, when sent) headers are on the
        allow-list: what stops a DNS-rebinding page from reaching a server on loopback. The
        lists are built once, here, not per request."""
        security = self.transport_security()
        hosts, origins = security.allowed_hosts or [], security.allowed_origins or []

        def allowed(host: str | None, origin: str | None) -> bool:
            if host is None or not _matches(host, hosts):
                return False
            return origin is None or _matches(origin, origins)

        return allowed


def _matches(value: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith(":*"):
            base = pattern[:-2]
            if value == base or (value.startswith(base + ":") and value[len(base) + 1 :].isdigit()):
                return True
        elif value == pattern:
            return True
    return False


async def _unauthorized(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="agent-runtime"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
