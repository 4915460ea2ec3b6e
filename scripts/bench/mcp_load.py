"""MCP streamable-HTTP load generator for scripts/bench-http.sh (run it with the lab venv's python).

usage: mcp_load.py rtt [--token-stdin] [--client raw|httpx] [--timeout S] [--warmup N] [--samples FILE] URL N
       mcp_load.py conc [--token-stdin] [--client raw|httpx] [--timeout S] URL SESSIONS CALLS
       mcp_load.py stdio-rtt [--timeout S] [--warmup N] [--samples FILE] N -- COMMAND [ARGS...]
       mcp_load.py stats [--slow-ms MS] FILE...

  rtt URL N                  one session on one keep-alive connection: initialize,
                             notifications/initialized, --warmup untimed calls, then N timed
                             sequential `tools/call echo`; prints "rtt <p50_us> <p99_us> <errors>"
  conc URL SESSIONS CALLS    SESSIONS sessions at once, each on its own connection: initialize,
                             notifications/initialized, CALLS `tools/call echo`, DELETE; prints
                             "conc <errors> <seconds>"
  stdio-rtt N -- COMMAND      the same session as rtt over MCP's stdio transport: starts COMMAND
                             (`mcp-tunnel stdio --profile P`), writes JSON-RPC lines to its stdin,
                             reads its stdout; ends it by closing stdin; prints "rtt <p50_us>
                             <p99_us> <errors>"
  stats FILE...              p50/p99 over the latencies of --samples files (runs merged);
                             prints "stats <p50_us> <p99_us> <count> <slow> <p95_us> <fast_p50_us>",
                             slow = calls over --slow-ms (30): through sshd a response's header and
                             body writes are sometimes held ~40 ms apart (Nagle + delayed ACK), see
                             bench-http.sh; fast_p50 = the p50 of the other calls

A session is JSON-RPC over plain HTTP/1.1 with keep-alive, as the MCP spec's streamable HTTP
transport (protocol 2025-06-18) has it: POST initialize, read the Mcp-Session-Id response header,
POST notifications/initialized (202), then POST tools/call. Responses may be application/json or
text/event-stream (the lab's MCP SDK server answers SSE: "event: message" + one "data:" line per
JSON-RPC message, stream closed after the response); both are parsed.

Every response is checked: HTTP status (200; 202 for the notification; 200/204/404/405 for the final
DELETE), a JSON-RPC message with the request's id and a `result`, and for tools/call `isError` false
and the echoed text back. `errors` counts the requests of a session that did not succeed, including
those never sent because the session could not start (a failed initialize counts as every request
the session would have made: initialize, the notification, the calls (rtt: warm-up + N) and DELETE).
One failure never stops the run; a broken connection is reopened for the next request. The first
few failures are described on stderr.

A timed call runs from sending the request to the moment the client holds the answer: over HTTP
the read that completed the response's SSE event (the stream's closing chunk, which may come a
packet later, is read after the clock stops, before the next call), over stdio the answer's line;
JSON decoding and checking happen after the clock stops on both, so `rtt` and `stdio-rtt` measure
the same span and only the transport between them differs.

--client raw (default) is a minimal asyncio-streams HTTP/1.1 client (Content-Length and chunked
bodies); --client httpx uses httpx.AsyncClient (HTTP/1.1, one connection per session) as a
cross-check. Both paths of the benchmark use the same client, so only the difference matters.

The bearer token, if any, is read from stdin (--token-stdin), never from argv or the environment,
and sent as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-06-18"
MAX_REPORTED = 5


class BenchError(Exception):
    """One failed request (bad status, bad body, broken connection, timeout)."""


class Failures:
    """Counts failures; describes the first few on stderr."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, what: str, err: BaseException | str, n: int = 1) -> None:
        self.count += n
        if self.count - n < MAX_REPORTED:
            print(f"mcp_load: {what}: {err if isinstance(err, str) else f'{type(err).__name__}: {err}'}",
                  file=sys.stderr)


# --- HTTP/1.1 ------------------------------------------------------------------------------------

class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams. Reconnects on the next request after
    a failure or a `Connection: close`."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float):
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise SystemExit(f"mcp_load: only http:// URLs are supported, got {url}")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        self.timeout = timeout
        host = self.host if self.port == 80 else f"{self.host}:{self.port}"
        self.base = f"Host: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        # perf_counter() when the body read so far first held a whole SSE event (or the whole body):
        # the moment a client has the answer; what is read after it (the last chunk) is not timed.
        self.answered_at: float | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass
        self.reader = self.writer = None

    async def request(self, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        try:
            return await asyncio.wait_for(self._request(method, body, headers), self.timeout)
        except BaseException:
            await self.close()  # a half-read response leaves the connection unusable
            raise

    async def _request(self, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        self.answered_at = None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {self.path} HTTP/1.1\r\n{self.base}"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        reader = self.reader
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            raise BenchError(f"connection closed before the response ({len(e.partial)} bytes)") from None
        lines = raw[:-4].decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise BenchError(f"bad status line {lines[0]!r}")
        status = int(status_line[1])
        resp: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            resp[name.strip().lower()] = value.strip()
        if "chunked" in resp.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
                if self.answered_at is None and (b"\n\n" in chunks[-1] or b"\r\n\r\n" in chunks[-1]):
                    self.answered_at = time.perf_counter()
            data = b"".join(chunks)
        elif "content-length" in resp:
            data = await reader.readexactly(int(resp["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            data = b""
        else:
            data = await reader.read()  # delimited by close
            resp["connection"] = "close"
        if self.answered_at is None:
            self.answered_at = time.perf_counter()
        if resp.get("connection", "").lower() == "close":
            await self.close()
        return status, resp, data


class HttpxConnection:
    """The same interface on httpx.AsyncClient (HTTP/1.1, at most one connection)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float):
        import httpx

        self.url = url
        self.answered_at: float | None = None  # not known: the whole response is timed
        self.client = httpx.AsyncClient(headers=headers, timeout=timeout, http2=False,
                                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))

    async def close(self) -> None:
        await self.client.aclose()

    async def request(self, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        r = await self.client.request(method, self.url, content=body, headers=headers)
        self.answered_at = time.perf_counter()
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content


# --- MCP session ---------------------------------------------------------------------------------

def rpc_messages(headers: dict, data: bytes) -> list:
    """The JSON-RPC messages of a response body (application/json or text/event-stream)."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        msg = json.loads(data)
        return msg if isinstance(msg, list) else [msg]
    if ctype == "text/event-stream":
        out, buf = [], []
        for line in data.decode("utf-8").replace("\r\n", "\n").split("\n") + [""]:
            if line == "":
                if buf:
                    out.append(json.loads("\n".join(buf)))
                    buf = []
            elif line.startswith("data:"):
                buf.append(line[5:].removeprefix(" "))
        return out
    raise BenchError(f"unexpected content-type {ctype!r}")


class Session:
    def __init__(self, conn, stats: dict):
        self.conn, self.stats = conn, stats
        self.session_id: str | None = None
        self.next_id = 0
        self.answered_at: float | None = None  # when the last call's answer was in hand

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session_id is not None:
            h["Mcp-Session-Id"] = self.session_id
            h["MCP-Protocol-Version"] = PROTOCOL_VERSION
        return h

    async def call(self, method: str, params: dict) -> dict:
        self.next_id += 1
        rid = self.next_id
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params},
                          separators=(",", ":")).encode()
        status, headers, data = await self.conn.request("POST", body, self._headers())
        self.answered_at = self.conn.answered_at
        if status != 200:
            raise BenchError(f"{method}: HTTP {status} {data[:200]!r}")
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        self.stats[ctype] = self.stats.get(ctype, 0) + 1
        for msg in rpc_messages(headers, data):
            if isinstance(msg, dict) and msg.get("id") == rid:
                if "result" not in msg:
                    raise BenchError(f"{method}: JSON-RPC error {msg.get('error')!r}")
                if method == "initialize":
                    self.session_id = headers.get("mcp-session-id")
                return msg["result"]
        raise BenchError(f"{method}: no JSON-RPC response with id {rid} in {data[:200]!r}")

    async def initialize(self) -> None:
        await self.call("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                       "clientInfo": {"name": "mcp-tunnel-bench", "version": "0"}})
        if not self.session_id:
            raise BenchError("initialize: no Mcp-Session-Id header")

    async def initialized(self) -> None:
        body = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        status, _, data = await self.conn.request("POST", body, self._headers())
        if status != 202:
            raise BenchError(f"notifications/initialized: HTTP {status} {data[:200]!r}")

    async def echo(self, text: str) -> None:
        result = await self.call("tools/call", {"name": "echo", "arguments": {"text": text}})
        if result.get("isError"):
            raise BenchError(f"tools/call echo: isError {result!r:.200}")
        got = (result.get("structuredContent") or {}).get("text")
        if got is None:
            for item in result.get("content") or []:
                if item.get("type") == "text":
                    got = json.loads(item["text"]).get("text")
                    break
        if got != text:
            raise BenchError(f"tools/call echo: sent {text!r}, got {got!r}")

    async def delete(self) -> None:
        status, _, data = await self.conn.request("DELETE", None, self._headers())
        if status not in (200, 204, 404, 405):
            raise BenchError(f"DELETE: HTTP {status} {data[:200]!r}")


class StdioSession(Session):
    """The same calls over MCP's stdio transport: one JSON-RPC message a line each way; the
    process's own notifications and server requests are skipped."""

    def __init__(self, proc: asyncio.subprocess.Process, stats: dict, timeout: float):
        super().__init__(None, stats)
        self.proc, self.timeout = proc, timeout

    async def _send(self, message: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(message + b"\n")
        await self.proc.stdin.drain()

    async def call(self, method: str, params: dict) -> dict:
        self.next_id += 1
        rid = self.next_id
        await self._send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params},
                                    separators=(",", ":")).encode())
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), self.timeout)
            self.answered_at = time.perf_counter()
            if not line:
                raise BenchError(f"{method}: the stdio process closed its stdout")
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("id") == rid and "method" not in msg:
                self.stats["stdio"] = self.stats.get("stdio", 0) + 1
                if "result" not in msg:
                    raise BenchError(f"{method}: JSON-RPC error {msg.get('error')!r}")
                return msg["result"]

    async def initialize(self) -> None:
        await self.call("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                       "clientInfo": {"name": "mcp-tunnel-bench", "version": "0"}})

    async def initialized(self) -> None:
        await self._send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    async def delete(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the end of stdin ends the session (the bridge sends DELETE)
        code = await asyncio.wait_for(self.proc.wait(), self.timeout)
        if code != 0:
            raise BenchError(f"the stdio process exited {code}")


def connection(args, url: str, headers: dict[str, str]):
    cls = HttpxConnection if args.client == "httpx" else RawConnection
    return cls(url, headers, args.timeout)


async def step(failures: Failures, what: str, coro) -> bool:
    try:
        await coro
        return True
    except Exception as e:  # noqa: BLE001 - count it and go on
        failures.add(what, e)
        return False


async def rtt(args, headers: dict[str, str]) -> None:
    failures, stats = Failures(), {}
    if args.command == "stdio-rtt":
        proc = await asyncio.create_subprocess_exec(*args.stdio_command, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, limit=1 << 24)
        conn = None
        s = StdioSession(proc, stats, args.timeout)
    else:
        conn = connection(args, args.url, headers)
        s = Session(conn, stats)
    lat: list[float] = []
    try:
        if not await step(failures, "initialize", s.initialize()):
            failures.add("session", "not started, calls not made", args.warmup + args.n + 2)
        else:
            await step(failures, "notifications/initialized", s.initialized())
            for i in range(args.warmup):
                await step(failures, f"warm-up call {i}", s.echo(f"warm-up {i}"))
            warm_failures = failures.count
            for i in range(args.n):
                text = f"bench call {i}"
                t0 = time.perf_counter()
                ok = await step(failures, f"call {i}", s.echo(text))
                if ok:
                    lat.append(((s.answered_at or time.perf_counter()) - t0) * 1e6)
            if warm_failures:
                print(f"mcp_load: {warm_failures} failures before the timed calls", file=sys.stderr)
            await step(failures, "DELETE", s.delete())
    finally:
        if conn is not None:
            await conn.close()
        elif s.proc.returncode is None:
            s.proc.kill()
            await s.proc.wait()
    if args.samples:
        with open(args.samples, "a") as f:
            f.write("".join(f"{x:.0f}\n" for x in lat))
    lat.sort()
    p50 = f"{lat[len(lat) // 2]:.0f}" if lat else "-"
    p99 = f"{lat[int(len(lat) * 0.99)]:.0f}" if lat else "-"
    print(f"mcp_load: response types {stats}", file=sys.stderr)
    print(f"rtt {p50} {p99} {failures.count}")


async def conc(args, headers: dict[str, str]) -> None:
    failures, stats = Failures(), {}
    start = asyncio.Event()

    async def one(k: int) -> None:
        conn = connection(args, args.url, headers)
        s = Session(conn, stats)
        try:
            await start.wait()
            if not await step(failures, f"session {k} initialize", s.initialize()):
                failures.add(f"session {k}", "not started, calls not made", args.calls + 2)
                return
            await step(failures, f"session {k} notifications/initialized", s.initialized())
            for i in range(args.calls):
                await step(failures, f"session {k} call {i}", s.echo(f"session {k} call {i}"))
            await step(failures, f"session {k} DELETE", s.delete())
        finally:
            await conn.close()

    tasks = [asyncio.create_task(one(k)) for k in range(args.sessions)]
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks, return_exceptions=False)
    secs = time.perf_counter() - t0
    print(f"mcp_load: response types {stats}", file=sys.stderr)
    print(f"conc {failures.count} {secs:.3f}")


def stats(args) -> None:
    lat = sorted(float(line) for path in args.files for line in open(path) if line.strip())
    p50 = f"{lat[len(lat) // 2]:.0f}" if lat else "-"
    p99 = f"{lat[int(len(lat) * 0.99)]:.0f}" if lat else "-"
    p95 = f"{lat[int(len(lat) * 0.95)]:.0f}" if lat else "-"
    slow = sum(1 for x in lat if x > args.slow_ms * 1000)
    fast = [x for x in lat if x <= args.slow_ms * 1000]
    fast_p50 = f"{fast[len(fast) // 2]:.0f}" if fast else "-"
    print(f"stats {p50} {p99} {len(lat)} {slow} {p95} {fast_p50}")


def main() -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--token-stdin", action="store_true", help="read the bearer token from stdin")
    common.add_argument("--client", choices=["raw", "httpx"], default="raw")
    common.add_argument("--timeout", type=float, default=30.0, help="per request, seconds (default 30)")
    ap = argparse.ArgumentParser(prog="mcp_load.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rtt", parents=[common])
    r.add_argument("--warmup", type=int, default=100, help="untimed calls first (default 100)")
    r.add_argument("--samples", help="append every timed latency (us, one a line) to this file")
    r.add_argument("url")
    r.add_argument("n", type=int)
    sr = sub.add_parser("stdio-rtt", parents=[common])
    sr.add_argument("--warmup", type=int, default=100, help="untimed calls first (default 100)")
    sr.add_argument("--samples", help="append every timed latency (us, one a line) to this file")
    sr.add_argument("n", type=int)
    sr.add_argument("stdio_command", nargs="+", help="-- COMMAND [ARGS...]: the stdio server to start")
    c = sub.add_parser("conc", parents=[common])
    c.add_argument("url")
    c.add_argument("sessions", type=int)
    c.add_argument("calls", type=int)
    st = sub.add_parser("stats")
    st.add_argument("--slow-ms", type=float, default=30.0, help="count latencies above this (default 30)")
    st.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.command == "stats":
        stats(args)
        return 0

    headers = {"User-Agent": "mcp-tunnel-bench"}
    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            ap.error("--token-stdin: no token on stdin")
        headers["Authorization"] = f"Bearer {token}"
    asyncio.run(conc(args, headers) if args.command == "conc" else rtt(args, headers))
    return 0

if __name__ == "__main__":
    sys.exit(main())
