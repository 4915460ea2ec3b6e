"""MCP server for the mcp-tunnel test lab (official `mcp` SDK 2.3.0, streamable HTTP at /mcp).

Every request needs `Authorization: Bearer <JWT>` minted by the token-exchange fixture: RS256,
verified against the fixture's JWKS, with the expected `iss` and `aud`, not expired, carrying a
`tenant` claim and scope `mcp`. Otherwise the SDK answers 401 with a `WWW-Authenticate` challenge.

Tools: whoami, echo(text), slow_stream(count, delay_ms) (progress + log notifications over SSE, one
every delay_ms). Resource: lab://tenant-info. Prompt: greeting(name).

Step-up (SPEC §10), checked by the `StepUpGate` middleware before the SDK sees a `tools/call`:
  admin_echo(text)         needs scope `mcp-admin` in the tenant token, else HTTP 403 with
                           `Bearer error="insufficient_scope", scope="mcp mcp-admin", resource_metadata=…`
                           (MCP 2025-11-25 runtime scope challenge);
  recent_login_echo(text)  needs claim `acr` == `phr`, else HTTP 401 with
                           `Bearer error="insufficient_user_authentication", acr_values="phr", max_age="300"`
                           (RFC 9470 §3). glewlwyd never issues `acr`, so this one always challenges.
A token the verifier rejects is left to the SDK (401 invalid_token), as is every other request.

Request log (--log, JSON lines), one line per HTTP request once its response has finished: method,
path, host, whether Authorization was present, the JSON-RPC method/id of a POST body, the status,
and for a verified token its iss/aud/tenant/sub/jti; for a rejected one the reason. Never the token.

Run: python server.py --port P --jwks-url URL --issuer ISS --audience AUD --log FILE
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import time

import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer

# The log entry of the HTTP request being served; the verifier adds its verdict to it.
current_entry: contextvars.ContextVar[dict | None] = contextvars.ContextVar("current_entry", default=None)


class FixtureTokenVerifier(TokenVerifier):
    """Accepts only tokens from the token-exchange fixture, for this server's audience."""

    def __init__(self, jwks_url: str, issuer: str, audience: str):
        self.keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=60)
        self.issuer, self.audience = issuer, audience

    async def verify_token(self, token: str) -> AccessToken | None:
        entry = current_entry.get()
        try:
            key = await asyncio.to_thread(self.keys.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                                options={"require": ["exp", "iss", "aud", "sub", "tenant"]})
        except (jwt.PyJWTError, jwt.PyJWKClientError) as e:
            if entry is not None:
                entry["rejected"] = f"{type(e).__name__}: {e}"
            return None
        if entry is not None:
            entry["token"] = {k: claims.get(k) for k in ("iss", "aud", "tenant", "sub", "jti")}
        return AccessToken(token=token, client_id=str(claims.get("client_id") or "unknown"),
                           scopes=str(claims.get("scope", "")).split(), expires_at=int(claims["exp"]),
                           subject=claims["sub"], claims=claims)


class RequestLog:
    """ASGI middleware writing one JSON line per HTTP request (see the module docstring)."""

    def __init__(self, app, path: str | None):
        self.app = app
        self.file = open(path, "a", buffering=1) if path else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.file is None:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry: dict = {"ts": round(time.time(), 3), "method": scope["method"], "path": scope["path"],
                       "host": headers.get("host"), "authorization": "authorization" in headers,
                       "session": "mcp-session-id" in headers}
        current_entry.set(entry)
        body = bytearray()

        async def logging_receive():
            message = await receive()
            if message["type"] == "http.request" and len(body) < 65536:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        rpc = json.loads(body)
                        if isinstance(rpc, dict):
                            entry["rpc_method"], entry["rpc_id"] = rpc.get("method"), rpc.get("id")
                    except ValueError:
                        pass
            return message

        async def logging_send(message):
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, logging_receive, logging_send)
        finally:
            entry["duration_ms"] = round((time.time() - entry["ts"]) * 1000)
            self.file.write(json.dumps(entry) + "\n")


class StepUpGate:
    """ASGI middleware answering the step-up tools' challenges (see the module docstring). It reads a
    POST body whole, and hands it on unchanged to the SDK when it lets the request through."""

    # tool -> (status, error, whether the token's claims lack what it needs, the challenge's other parameters)
    RULES = {
        "admin_echo": (403, "insufficient_scope",
                       lambda claims: "mcp-admin" not in str(claims.get("scope", "")).split(),
                       'scope="mcp mcp-admin", error_description="admin_echo needs scope mcp-admin"'),
        "recent_login_echo": (401, "insufficient_user_authentication", lambda claims: claims.get("acr") != "phr",
                              'error_description="recent_login_echo needs a phishing-resistant login within 5 '
                              'minutes", acr_values="phr", max_age="300"'),
    }

    def __init__(self, app, verifier: FixtureTokenVerifier, resource_metadata: str):
        self.app, self.verifier, self.resource_metadata = app, verifier, resource_metadata

    @staticmethod
    def gated_tools(body: bytes) -> list[str]:
        try:
            rpc = json.loads(body)
        except ValueError:
            return []
        messages = rpc if isinstance(rpc, list) else [rpc]
        return [m["params"]["name"] for m in messages
                if isinstance(m, dict) and m.get("method") == "tools/call" and isinstance(m.get("params"), dict)
                and m["params"].get("name") in StepUpGate.RULES]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        challenge = await self.challenge(scope, bytes(body))
        if challenge is not None:
            status, error, params = challenge
            payload = json.dumps({"error": error, "error_description": "step-up required"}).encode()
            header = f'Bearer error="{error}", {params}, resource_metadata="{self.resource_metadata}"'
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                (b"www-authenticate", header.encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def challenge(self, scope, body: bytes) -> tuple[int, str, str] | None:
        tools = self.gated_tools(body)
        if not tools:
            return None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        verified = await self.verifier.verify_token(token.strip())
        if verified is None:
            return None  # the SDK answers 401 invalid_token
        for tool in tools:
            status, error, lacks, params = self.RULES[tool]
            if lacks(verified.claims or {}):
                return status, error, params
        return None


def build_server(args: argparse.Namespace, verifier: FixtureTokenVerifier) -> MCPServer:
    resource_url = f"http://127.0.0.1:{args.port}/mcp"
    server = MCPServer(
        "mcp-tunnel-lab",
        token_verifier=verifier,
        auth=AuthSettings(issuer_url=args.issuer, resource_server_url=resource_url,
                          required_scopes=["mcp"], validate_token_resource=False),
    )

    def claims() -> dict:
        token = get_access_token()
        return dict(token.claims) if token is not None and token.claims else {}

    @server.tool()
    def whoami() -> dict:
        """The identity the request was made with: tenant, subject, scopes, issuer, audience."""
        c = claims()
        return {"tenant": c.get("tenant"), "sub": c.get("sub"), "scopes": str(c.get("scope", "")).split(),
                "iss": c.get("iss"), "aud": c.get("aud")}

    @server.tool()
    def echo(text: str) -> dict:
        """Returns the text unchanged, with the caller's tenant."""
        return {"text": text, "tenant": claims().get("tenant")}

    @server.tool()
    def admin_echo(text: str) -> dict:
        """Like echo, for tokens with scope mcp-admin only (others get 403 insufficient_scope)."""
        return {"text": text, "tenant": claims().get("tenant"), "admin": True}

    @server.tool()
    def recent_login_echo(text: str) -> dict:
        """Like echo, for tokens with acr phr only (others get 401 insufficient_user_authentication)."""
        return {"text": text, "tenant": claims().get("tenant"), "acr": claims().get("acr")}

    @server.tool()
    async def slow_stream(count: int, delay_ms: int, ctx: Context) -> dict:
        """Sends `count` progress notifications and log messages, one every `delay_ms`."""
        for i in range(1, count + 1):
            await asyncio.sleep(delay_ms / 1000)
            await ctx.report_progress(i, count, f"step {i} of {count}")
            await ctx.info(f"slow_stream step {i}")
        return {"count": count, "tenant": claims().get("tenant")}

    @server.resource("lab://tenant-info", mime_type="application/json")
    def tenant_info() -> str:
        """The tenant the token was minted for, as a resource."""
        return json.dumps({"tenant": claims().get("tenant"), "sub": claims().get("sub")})

    @server.prompt()
    def greeting(name: str) -> str:
        """A prompt that greets `name` on behalf of the tenant."""
        return f"Hello {name}, this is tenant {claims().get('tenant')}."

    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jwks-url", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--audience", default="https://mcp.example.test/mcp")
    ap.add_argument("--log")
    args = ap.parse_args()
    verifier = FixtureTokenVerifier(args.jwks_url, args.issuer, args.audience)
    mcp_app = build_server(args, verifier).streamable_http_app(host="127.0.0.1")
    metadata = f"http://127.0.0.1:{args.port}/.well-known/oauth-protected-resource/mcp"
    app = RequestLog(StepUpGate(mcp_app, verifier, metadata), args.log)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
