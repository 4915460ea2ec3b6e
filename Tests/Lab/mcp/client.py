"""MCP client for the mcp-tunnel test lab (official `mcp` SDK 2.3.0, streamable HTTP).

usage: client.py URL [--token-stdin] [--header K=V]... COMMAND
  tools                      list tool names
  call NAME [JSONARGS]       call a tool; JSONARGS defaults to {}
  stream COUNT DELAY_MS      call slow_stream and record when each notification arrived
  read URI                   read a resource
  prompt NAME [JSONARGS]     get a prompt

The bearer token is read from stdin (--token-stdin), never from argv or the environment.
Prints exactly one JSON object on stdout: {"ok": true, ...} and exit 0, or
{"ok": false, "error": ..., "http_status": <last HTTP status>, "rpc_error": {"code", "message", "data"} | null}
and exit 1 (`rpc_error`: the JSON-RPC error of the failed request, when there was one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx2
from lab_client import content_json, error_leaves, rpc_error
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(args: argparse.Namespace, headers: dict[str, str], statuses: list[int]) -> dict:
    async def record_status(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    http = create_mcp_http_client(headers=headers)
    http.event_hooks["response"].append(record_status)
    started = time.monotonic()
    events: list[dict] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append({"t": round(time.monotonic() - started, 3), "kind": "progress",
                       "progress": progress, "total": total, "message": message})

    async def on_log(params) -> None:
        events.append({"t": round(time.monotonic() - started, 3), "kind": "log",
                       "level": str(params.level), "data": params.data})

    async with http, streamable_http_client(args.url, http_client=http) as (read, write, *_):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            await session.initialize()
            cmd = args.command
            if cmd == "tools":
                listed = await session.list_tools()
                return {"tools": sorted(t.name for t in listed.tools)}
            if cmd == "call":
                name, arguments = args.args[0], json.loads(args.args[1]) if len(args.args) > 1 else {}
                result = await session.call_tool(name, arguments)
                return {"is_error": bool(result.is_error), "result": content_json(result.content)}
            if cmd == "stream":
                count, delay = int(args.args[0]), int(args.args[1])
                started = time.monotonic()
                result = await session.call_tool("slow_stream", {"count": count, "delay_ms": delay},
                                                 progress_callback=on_progress)
                return {"is_error": bool(result.is_error), "result": content_json(result.content),
                        "events": events, "elapsed": round(time.monotonic() - started, 3)}
            if cmd == "read":
                result = await session.read_resource(args.args[0])
                return {"contents": [getattr(c, "text", None) for c in result.contents]}
            if cmd == "prompt":
                name, arguments = args.args[0], json.loads(args.args[1]) if len(args.args) > 1 else {}
                result = await session.get_prompt(name, arguments)
                return {"messages": [getattr(m.content, "text", None) for m in result.messages]}
            raise ValueError(f"unknown command {cmd}")


def main() -> int:
    ap = argparse.ArgumentParser(description="MCP lab client", usage=__doc__.split("\n\n")[1])
    ap.add_argument("url")
    ap.add_argument("--token-stdin", action="store_true", help="read the bearer token from stdin")
    ap.add_argument("--header", action="append", default=[], metavar="K=V", help="extra request header")
    ap.add_argument("command", choices=["tools", "call", "stream", "read", "prompt"])
    ap.add_argument("args", nargs="*")
    args = ap.parse_args()

    headers: dict[str, str] = {}
    for h in args.header:
        key, _, value = h.partition("=")
        if key.lower() == "authorization":
            ap.error("the Authorization header comes from --token-stdin only")
        headers[key] = value
    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            ap.error("--token-stdin: no token on stdin")
        headers["Authorization"] = f"Bearer {token}"

    statuses: list[int] = []
    try:
        out = {"ok": True, **asyncio.run(run(args, headers, statuses))}
        code = 0
    except BaseException as e:  # noqa: BLE001 - the SDK wraps failures in ExceptionGroups
        if isinstance(e, KeyboardInterrupt):
            raise
        leaves = error_leaves(e)
        failures = [s for s in statuses if s >= 400]
        out = {"ok": False, "error": "; ".join(leaves),
               "http_status": failures[-1] if failures else (statuses[-1] if statuses else None),
               "rpc_error": rpc_error(e)}
        code = 1
    print(json.dumps(out))
    return code


if __name__ == "__main__":
    sys.exit(main())
