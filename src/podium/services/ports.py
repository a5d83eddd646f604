"""What services ask of the layers above them, without importing them.

Services never import ``podium.realtime`` or ``podium.api`` (the contracts in pyproject.toml).
Events for clients go on the bus (``podium.bus``); when a change must reach the live sockets
at once, synchronously (the WebSocket gateway holds them), a service calls a port defined here.
The gateway implements it and is handed to the service when the app is wired (``api/app.py``).
"""

from __future__ import annotations

from typing import Protocol


class Connections(Protocol):
    """The members' live connections on this node (``realtime.gateway.Gateway``)."""

    def refresh_blocked_for(self, user_id: int) -> None:
        """``user_id`` blocked or unblocked someone: re-send their sessions' list of blocked
        people on stage if it changed."""
