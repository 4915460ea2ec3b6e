"""What the lab's MCP client scripts report when the SDK fails: it wraps failures in
ExceptionGroups, so the leaves are what a test needs to read."""

from __future__ import annotations


def error_leaves(error: BaseException) -> list[str]:
    """Every non-group exception inside `error`, as `Type: message`, in order."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in error_leaves(inner)]
    return [f"{type(error).__name__}: {error}"]
