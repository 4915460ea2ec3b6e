"""RFC 8693 token-exchange fixture for the mcp-tunnel test lab.

POST /token exchanges a glewlwyd access token (verified against the IdP's JWKS: signature, iss, exp)
for a short-lived, tenant-scoped RS256 JWT that the lab MCP server accepts. The tenant comes from the
`resource` (or `audience`) URI, `<resource-base>/t/{tenant}/mcp`. GET /jwks publishes the signing key
(generated in memory at start-up, never written to disk).

Scope: `mcp` (the default) and the step-up scope `mcp-admin` may be requested; the token's `scope`
is `mcp`, plus `mcp-admin` when asked for AND the subject (IdP) token carries it — asked for without
it is `invalid_scope` (mcp-tunnel elevate exchanges a fresh login that glewlwyd granted it to).

Fault injection for tests: POST /admin/mode {"mode": "normal"|"fail"|"stall", "status": 503,
"stall_seconds": 60}. `fail` answers /token with `status` and `temporarily_unavailable`; `stall`
holds /token requests until the mode changes or `stall_seconds` pass.

Request log (--log, JSON lines): one line per /token request with the outcome; tokens appear only as
a SHA-256 prefix fingerprint, never as values.

Run: python sts.py --port P --idp-issuer ISS --idp-jwks URL --audience AUD [--tenants acme,globex]
     [--ttl 300] [--resource-base https://mcp.example.test] --log FILE
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
from urllib.parse import urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
KID = "lab-sts-1"


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class TokenExchangeFixture:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.issuer = f"http://127.0.0.1:{args.port}"
        self.tenants = {t for t in args.tenants.split(",") if t}
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.idp_keys = jwt.PyJWKClient(args.idp_jwks, cache_keys=True, lifespan=60)
        self.mode = {"mode": "normal", "status": 503, "stall_seconds": 60.0}
        self.mode_changed = asyncio.Event()
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def record(self, **fields) -> None:
        if self.log:
            self.log.write(json.dumps({"ts": round(time.time(), 3), **fields}) + "\n")

    def ledger(self, *tokens: str) -> None:
        if self.args.ledger:
            fd = os.open(self.args.ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, "".join(t + "\n" for t in tokens if t).encode())
            finally:
                os.close(fd)

    # --- routes -------------------------------------------------------------------------------

    async def jwks(self, request: Request) -> JSONResponse:
        numbers = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
               "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
        return JSONResponse({"keys": [jwk]})

    async def set_mode(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("mode") not in ("normal", "fail", "stall"):
            return JSONResponse({"error": "mode must be normal, fail or stall"}, status_code=400)
        self.mode = {"mode": body["mode"], "status": int(body.get("status", 503)),
                     "stall_seconds": float(body.get("stall_seconds", 60))}
        self.mode_changed.set()
        self.mode_changed = asyncio.Event()
        self.record(event="mode", **self.mode)
        return JSONResponse(self.mode)

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        subject = params.get("subject_token", "")
        entry = {"event": "token", "grant_type": params.get("grant_type"),
                 "resource": params.get("resource"), "audience": params.get("audience"),
                 "scope": params.get("scope"), "client_id": params.get("client_id"),
                 "subject_fp": fingerprint(subject) if subject else None, "mode": self.mode["mode"]}
        mode = self.mode
        if mode["mode"] == "stall":
            changed = self.mode_changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=mode["stall_seconds"])
            except asyncio.TimeoutError:
                pass
            entry["stalled"] = True
        if mode["mode"] == "fail":
            self.record(**entry, status=mode["status"], error="temporarily_unavailable")
            return JSONResponse({"error": "temporarily_unavailable",
                                 "error_description": "fault injected by the lab"},
                                status_code=mode["status"])
        try:
            result = self.exchange(params)
        except OAuthError as e:
            self.record(**entry, status=e.status, error=e.error, error_description=e.description)
            return JSONResponse({"error": e.error, "error_description": e.description},
                                status_code=e.status, headers={"Cache-Control": "no-store"})
        claims, token = result
        self.ledger(subject, token)
        self.record(**entry, status=200, tenant=claims["tenant"], sub=claims["sub"],
                    jti=claims["jti"], exp=claims["exp"], issued_fp=fingerprint(token))
        return JSONResponse({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                             "token_type": "Bearer", "expires_in": self.args.ttl, "scope": claims["scope"]},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # --- RFC 8693 -----------------------------------------------------------------------------

    def exchange(self, p: dict[str, str]) -> tuple[dict, str]:
        if p.get("grant_type") != TOKEN_EXCHANGE:
            raise OAuthError("unsupported_grant_type", f"only {TOKEN_EXCHANGE} is supported")
        for name in ("subject_token", "subject_token_type"):
            if not p.get(name):
                raise OAuthError("invalid_request", f"missing {name}")
        if p["subject_token_type"] != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", "subject_token_type must be an access token")
        requested = p.get("requested_token_type")
        if requested and requested != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", "only access tokens can be requested")
        subject = self.verify_subject(p["subject_token"])
        tenant = self.tenant_from(p.get("resource"), p.get("audience"))
        requested_scopes = set((p.get("scope") or "mcp").split())
        if requested_scopes - {"mcp", "mcp-admin"}:
            raise OAuthError("invalid_scope", "only scopes 'mcp' and 'mcp-admin' can be requested")
        # The step-up scope passes only from an IdP token that carries it (glewlwyd grants it only
        # after the stronger login its scheme requires).
        subject_scopes = subject.get("scope", "")
        subject_scopes = set(subject_scopes.split() if isinstance(subject_scopes, str) else subject_scopes)
        if "mcp-admin" in requested_scopes and "mcp-admin" not in subject_scopes:
            raise OAuthError("invalid_scope", "scope 'mcp-admin' needs a subject token that carries it")
        scope = " ".join(s for s in ("mcp", "mcp-admin") if s in requested_scopes | {"mcp"})
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.args.audience, "sub": subject["sub"], "tenant": tenant,
                  "scope": scope, "act": {"sub": p.get("client_id") or subject.get("client_id") or "unknown"},
                  "client_id": p.get("client_id") or subject.get("client_id"),
                  "jti": uuid.uuid4().hex, "iat": now, "nbf": now, "exp": now + self.args.ttl}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"})
        return claims, token

    def verify_subject(self, token: str) -> dict:
        try:
            key = self.idp_keys.get_signing_key_from_jwt(token)
            return jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.args.idp_issuer,
                              options={"require": ["exp", "iss", "sub"], "verify_aud": False})
        except (jwt.PyJWTError, jwt.PyJWKClientError) as e:
            raise OAuthError("invalid_request", f"subject_token rejected: {e}") from None

    def tenant_from(self, resource: str | None, audience: str | None) -> str:
        target = resource or audience
        if not target:
            raise OAuthError("invalid_request", "resource (or audience) naming the tenant is required")
        base = urlsplit(self.args.resource_base)
        url = urlsplit(target)
        parts = url.path.strip("/").split("/")
        if (url.scheme, url.netloc) != (base.scheme, base.netloc) or len(parts) != 3 \
                or parts[0] != "t" or parts[2] != "mcp":
            raise OAuthError("invalid_target", f"unknown resource {target}")
        if parts[1] not in self.tenants:
            raise OAuthError("invalid_target", f"tenant {parts[1]} is not allowed")
        return parts[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idp-issuer", required=True)
    ap.add_argument("--idp-jwks", required=True)
    ap.add_argument("--audience", default="https://mcp.example.test/mcp")
    ap.add_argument("--tenants", default="acme,globex")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--resource-base", default="https://mcp.example.test")
    ap.add_argument("--log")
    ap.add_argument("--ledger", help="append every subject token received and token issued (the test "
                    "suite's secret-hygiene scan looks for them; lab only)")
    args = ap.parse_args()
    fixture = TokenExchangeFixture(args)
    app = Starlette(routes=[
        Route("/token", fixture.token, methods=["POST"]),
        Route("/jwks", fixture.jwks, methods=["GET"]),
        Route("/admin/mode", fixture.set_mode, methods=["POST"]),
    ])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
