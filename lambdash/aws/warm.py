"""A Lambda client made ahead of time and handed to the one-shot that needs it.

The agent keeps warm clients (session, credentials, endpoint, an open connection)
and forks a worker per request. Before the worker runs the one-shot, it is handed
the client the agent made for the request's target and the caller's settings;
``open_shell`` then takes it instead of making one, when the target it resolves
is that same target. Anything else (another target, no agent) makes its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdash.aws.invoke import LambdaClient
    from lambdash.config import Target

_handed: LambdaClient | None = None


def hand_over(client: LambdaClient) -> None:
    """Give this process the client to use for its target (in an agent's worker, before the one-shot runs)."""
    global _handed
    _handed = client


def handed_client(target: Target) -> LambdaClient | None:
    """The client handed over for ``target``, once; None when none was, or it was for another target."""
    global _handed
    client = _handed
    if client is None or client.target != target:
        return None
    _handed = None
    return client
