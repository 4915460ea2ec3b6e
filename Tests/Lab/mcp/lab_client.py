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


def error_leaves(error: BaseException) -> list[str]:
    """Every non-group exception inside `error`, as `Type: message`, in order."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in error_leaves(inner)]
    return [f"{type(error).__name__}: {error}"]
