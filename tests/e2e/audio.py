"""Helpers for end-to-end audio tests: wait for audio to arrive, then look at what was heard."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from podium.media.analysis import SAMPLE_RATE, dominant_frequency, tone_present


async def record_after(peer: Any, skip: float, seconds: float, timeout: float = 20.0) -> np.ndarray:
    """Samples heard from ``skip`` seconds after now, ``seconds`` long.

    The skip lets audio already in flight (jitter buffers, the mixer) drain after a change.
    """
    start = len(peer.recorded()) + int(skip * SAMPLE_RATE)
    end = start + int(seconds * SAMPLE_RATE)
    deadline = time.monotonic() + timeout
    while len(peer.recorded()) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(peer.recorded())} of {end} samples arrived")
        await asyncio.sleep(0.05)  # polls a condition (samples arrived), with a deadline
    return np.asarray(peer.recorded()[start:end])


def hears(samples: np.ndarray, freq: float) -> bool:
    return tone_present(samples, freq)


def dominant(samples: np.ndarray) -> float:
    return dominant_frequency(samples)
