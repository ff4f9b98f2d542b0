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

    @classmethod
    def for_bind(
        cls, host: str, token: SecretStr | None, allowed_hosts: list[str] | None = None
    ) -> HttpGuard:
        if token is not None and not token.get_secret_value().strip():
            token = None
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"binding {host} would let anyone who reaches the port read the KB: set "
                "AGENT_MCP_HTTP_TOKEN to a secret (clients send `Authorization: Bearer <it>`), "
                "or bind 127.0.0.1"
            )
        return cls(host, token, tuple(allowed_hosts or ()))

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
        auth = "bearer token required (AGENT_MCP_HTTP_TOKEN)" if self.token else "no token"
        allowed = ", ".join(self.transport_security().allowed_hosts)
        return f"{auth}; Host allow-list: {allowed}"

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the token check (unchanged when there is no token)."""
        if self.token is None:
            return app
        expected = f"Bearer {self.token.get_secret_value()}".encode()

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                given = dict(scope.get("headers") or []).get(b"authorization", b"")
                if not hmac.compare_digest(given, expected):
                    await _unauthorized(send)
                    return
            await app(scope, receive, send)

        return guarded


async def _unauthorized(send: Send) -> None:
    body = b'{"error": "unauthorized: send Authorization: Bearer <AGENT_MCP_HTTP_TOKEN>"}'
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
