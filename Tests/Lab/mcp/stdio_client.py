"""Drives `mcp-tunnel stdio` as Claude Desktop would: the official `mcp` SDK 2.3.0 `stdio_client`.

usage: stdio_client.py [--minimal-env] COMMAND [ARGS...] -- MCP_TUNNEL [MCP_TUNNEL_ARGS...]
  session                 initialize, tools/list, call whoami, call slow_stream 3 400 (progress),
                          a slow_stream beside a fast echo (the echo must not wait), resources/list,
                          read lab://tenant-info, prompts/list, get the greeting prompt
  call NAME [JSONARGS]    initialize (which may fail) and call one tool
  eof                     raw: initialize + initialized over the pipe, close stdin, time the exit
  sigterm | sigint        raw: initialize + initialized, then the signal (stdin stays open), time the exit
  early-eof               raw: initialize and close stdin at once (a tunnel of its own is still
                          starting), time the exit
  restart MARKER          call whoami, create MARKER.ready, wait for MARKER.go (the test restarts
                          the MCP server meanwhile, so the session is gone), call whoami again
  switch MARKER           call whoami, create MARKER.ready, wait for MARKER.go (the test switches the
                          running up's tenant meanwhile), then in the same session: whoami, read
                          lab://tenant-info, get the greeting prompt

The child's environment is read as one JSON object from stdin. --minimal-env passes only what
Claude Desktop and the SDK pass (HOME, LOGNAME, PATH, SHELL, TERM, USER, DBUS_SESSION_BUS_ADDRESS).
Prints exactly one JSON object on stdout: {"ok": true, ...} or {"ok": false, "error": ..., "rpc_error": ...}
(`rpc_error`: the JSON-RPC error {"code", "message", "data"} of the failed request, when there was one).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from lab_client import content_json, error_leaves, rpc_error
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

MINIMAL = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "DBUS_SESSION_BUS_ADDRESS")


async def wait_for(marker: str) -> None:
    open(marker + ".ready", "w").close()
    deadline = time.monotonic() + 180
    while not os.path.exists(marker + ".go"):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never created " + marker + ".go")
        await asyncio.sleep(0.1)


async def resource_json(session: ClientSession, uri: str) -> object:
    result = await session.read_resource(uri)
    for item in result.contents:
        text = getattr(item, "text", None)
        if text is not None:
            return json.loads(text)
    return None


async def prompt_text(session: ClientSession, name: str, arguments: dict) -> str | None:
    result = await session.get_prompt(name, arguments)
    for message in result.messages:
        text = getattr(message.content, "text", None)
        if text is not None:
            return text
    return None


async def session_run(params: StdioServerParameters, command: str, args: list[str]) -> dict:
    started = time.monotonic()
    events: list[dict] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append({"t": round(time.monotonic() - started, 3), "kind": "progress", "progress": progress})

    async def on_log(params) -> None:
        events.append({"t": round(time.monotonic() - started, 3), "kind": "log", "data": params.data})

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            if command == "restart":
                await session.initialize()
                before = content_json((await session.call_tool("whoami", {})).content)
                await wait_for(args[0])
                after = await session.call_tool("echo", {"text": "after restart"})
                return {"before": before, "after": content_json(after.content), "after_error": bool(after.is_error)}
            if command == "switch":
                await session.initialize()
                before = content_json((await session.call_tool("whoami", {})).content)
                await wait_for(args[0])
                after = await session.call_tool("whoami", {})
                return {"before": before, "after": content_json(after.content), "after_error": bool(after.is_error),
                        "resource": await resource_json(session, "lab://tenant-info"),
                        "prompt": await prompt_text(session, "greeting", {"name": "Ada"})}
            if command == "call":
                await session.initialize()
                name, arguments = args[0], json.loads(args[1]) if len(args) > 1 else {}
                result = await session.call_tool(name, arguments)
                return {"is_error": bool(result.is_error), "result": content_json(result.content)}
            init = await session.initialize()
            tools = sorted(t.name for t in (await session.list_tools()).tools)
            whoami = await session.call_tool("whoami", {})
            started = time.monotonic()
            events.clear()
            stream = await session.call_tool("slow_stream", {"count": 3, "delay_ms": 400},
                                             progress_callback=on_progress)
            stream_elapsed = round(time.monotonic() - started, 3)
            stream_events = list(events)
            # A slow call in flight must not hold a fast one.
            t0 = time.monotonic()
            fast_done: dict = {}

            slow_running = asyncio.Event()

            async def slow_progress(progress: float, total: float | None, message: str | None) -> None:
                slow_running.set()

            async def slow() -> float:
                await session.call_tool("slow_stream", {"count": 6, "delay_ms": 500}, progress_callback=slow_progress)
                return time.monotonic() - t0

            async def fast() -> float:
                await slow_running.wait()  # the slow call's first progress event: it is in flight
                r = await session.call_tool("echo", {"text": "fast"})
                fast_done["result"] = content_json(r.content)
                return time.monotonic() - t0

            slow_t, fast_t = await asyncio.gather(slow(), fast())
            resources = sorted(str(r.uri) for r in (await session.list_resources()).resources)
            prompts = sorted(p.name for p in (await session.list_prompts()).prompts)
            return {"resources": resources, "resource": await resource_json(session, "lab://tenant-info"),
                    "prompts": prompts, "prompt": await prompt_text(session, "greeting", {"name": "Ada"}),
                    "protocol_version": init.protocol_version, "server": init.server_info.name, "tools": tools,
                    "whoami": content_json(whoami.content), "stream": content_json(stream.content),
                    "stream_events": stream_events, "stream_elapsed": stream_elapsed,
                    "slow_elapsed": round(slow_t, 3), "fast_elapsed": round(fast_t, 3),
                    "fast": fast_done.get("result")}


def eof_run(argv: list[str], env: dict, how: str = "eof") -> dict:
    """eof: initialize, initialized, close stdin. sigterm/sigint: the same, then the signal with stdin
    still open. early-eof: initialize and close stdin at once, while a tunnel of its own is starting."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "eof-test", "version": "1"}}}
    proc.stdin.write((json.dumps(init) + "\n").encode())
    proc.stdin.flush()
    line = b""
    if how != "early-eof":
        line = proc.stdout.readline()
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        proc.stdin.flush()
        time.sleep(0.3)  # let the initialized POST go out before the end of input
    t0 = time.monotonic()
    if how in ("sigterm", "sigint"):
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
    else:
        proc.stdin.close()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    elapsed = round(time.monotonic() - t0, 3)
    if not proc.stdin.closed:
        proc.stdin.close()
    rest = proc.stdout.read().decode()
    stderr = proc.stderr.read().decode()
    return {"first_line": line.decode(), "exit": code, "exit_seconds": elapsed, "rest": rest, "stderr": stderr[-3000:]}


def main() -> int:
    argv = sys.argv[1:]
    minimal = False
    if argv and argv[0] == "--minimal-env":
        minimal, argv = True, argv[1:]
    split = argv.index("--")
    command, args, tunnel = argv[0], argv[1:split], argv[split + 1:]
    env = json.loads(sys.stdin.readline())
    if minimal:
        env = {k: v for k, v in env.items() if k in MINIMAL}
    try:
        if command in ("eof", "sigterm", "sigint", "early-eof"):
            out = {"ok": True, **eof_run(tunnel, env, command)}
        else:
            params = StdioServerParameters(command=tunnel[0], args=tunnel[1:], env=env)
            out = {"ok": True, **asyncio.run(session_run(params, command, args))}
        code = 0
    except BaseException as e:  # noqa: BLE001 - the SDK wraps failures in ExceptionGroups
        if isinstance(e, KeyboardInterrupt):
            raise
        leaves = error_leaves(e)
        out = {"ok": False, "error": "; ".join(leaves), "rpc_error": rpc_error(e)}
        code = 1
    print(json.dumps(out))
    return code


if __name__ == "__main__":
    sys.exit(main())
