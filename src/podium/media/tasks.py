"""Background work of the media engines: callbacks that may be coroutines, and tracked tasks.

Engines keep their helper tasks in a set so ``stats()`` can count them and ``close()`` can
cancel them; a failure is logged, never left to vanish with the task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


def spawn(tasks: set[asyncio.Task[Any]], awaitable: Awaitable[Any], what: str) -> None:
    """Run ``awaitable`` as a task held in ``tasks`` until it ends; log its failure."""

    async def run() -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s background task failed", what)

    task = asyncio.create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def call(tasks: set[asyncio.Task[Any]], callback: Callable[..., Any], *args: Any) -> None:
    """Call a control-plane callback, which may be sync or async, without letting it raise."""
    try:
        result = callback(*args)
    except Exception:
        log.exception("media engine callback failed")
        return
    if inspect.isawaitable(result):
        spawn(tasks, result, "media engine callback")
