"""What the lab's MCP client scripts share: reading a tool result, and reporting SDK failures
(the SDK wraps them in ExceptionGroups, so the leaves are what a test needs to read)."""

from __future__ import annotations

import json


def content_json(content) -> object:
    """A tool result's (or resource's) first text content, parsed as JSON when it is JSON."""
    for item in content or []:
        text = getattr(item, "text", None)
        if text is not None:
            try:
                return json.loads(text)
            except ValueError:
                return text
    return None


def rpc_error(error: BaseException) -> dict | None:
    """The first JSON-RPC error the SDK raised inside `error` (an `MCPError`), as the server (or
    mcp-tunnel) sent it: {"code", "message", "data"}; None when there is none."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = rpc_error(inner)
            if found is not None:
                return found
        return None
    data = getattr(error, "error", None)
    if data is None or not hasattr(data, "code"):
        return None
    return {"code": data.code, "message": data.message, "data": data.data}


def error_leaves(error: BaseException) -> list[str]:
    """Every non-group exception inside `error`, as `Type: message`, in order."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in error_leaves(inner)]
    return [f"{type(error).__name__}: {error}"]
