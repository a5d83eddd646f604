"""Where a benchmark's dated report goes: ``results/HISTORY.md``, the log of every run.

``RESULTS.md`` is the one-screen table of headline figures, refreshed by hand from this log
(benchmarks/README.md, "Results"); scripts never write to it, so new runs cannot bury it.
"""

from __future__ import annotations

from pathlib import Path

HISTORY = Path(__file__).resolve().parent.parent / "results" / "HISTORY.md"


def append(section: str) -> Path:
    """Add one run's markdown section at the end of the history; returns the file's path."""
    HISTORY.parent.mkdir(exist_ok=True)
    with HISTORY.open("a") as out:
        out.write("\n" + section.strip("\n") + "\n")
    return HISTORY
