"""A second MCP client library for the lab: `fastmcp` (PyPI), whose Streamable HTTP client is its
own code, not the `mcp` SDK's. Used through `mcp-tunnel up`'s http listener.

usage: fastmcp_client.py URL session
  session    list tools, call whoami, call echo, call slow_stream 2 300 (progress notifications),
             read lab://tenant-info, get the greeting prompt

No token: the tunnel injects it. Prints exactly one JSON object on stdout: {"ok": true, ...} and
exit 0, or {"ok": false, "error": ...} and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from lab_client import content_json, error_leaves


async def session(url: str) -> dict:
    started = time.monotonic()
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(round(time.monotonic() - started, 3))

    async with Client(StreamableHttpTransport(url), timeout=60) as client:
        tools = sorted(t.name for t in await client.list_tools())
        whoami = await client.call_tool("whoami", {})
        echo = await client.call_tool("echo", {"text": "via fastmcp"})
        started = time.monotonic()
        stream = await client.call_tool("slow_stream", {"count": 2, "delay_ms": 300}, progress_handler=on_progress)
        stream_elapsed = round(time.monotonic() - started, 3)
        resource = content_json(await client.read_resource("lab://tenant-info"))
        prompt = await client.get_prompt("greeting", {"name": "Ada"})
        prompt_text = next((getattr(m.content, "text", None) for m in prompt.messages), None)
        return {"tools": tools, "whoami": content_json(whoami.content), "echo": content_json(echo.content),
                "stream": content_json(stream.content), "progress": progress, "stream_elapsed": stream_elapsed,
                "resource": resource, "prompt": prompt_text}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] != "session":
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = {"ok": True, **asyncio.run(session(sys.argv[1]))}
        code = 0
    except BaseException as e:  # noqa: BLE001 - failures may come wrapped in ExceptionGroups
        if isinstance(e, KeyboardInterrupt):
            raise
        out = {"ok": False, "error": "; ".join(error_leaves(e))}
        code = 1
    print(json.dumps(out))
    return code


if __name__ == "__main__":
    sys.exit(main())
