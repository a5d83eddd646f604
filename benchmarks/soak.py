"""A bounded soak of the control plane through the real ``podium serve``: does memory grow?

One server, one room, ``--clients`` (1,000) members joined over ``--join-seconds``, then for
``--minutes`` (30): continuous churn (``--churn`` members a second either leave and come back
on a new session, or drop their socket and resume it) and the director's actions (hands,
invitations, stage moves, mutes) at ``--rate`` a second. The server's RSS is sampled every
``--sample-seconds`` (30); after ``--warmup-minutes`` (5) a least-squares line through the
samples gives the growth in MB/hour. Errors as in control_plane.py. Run as root in a
loopback-only network namespace::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -u benchmarks/soak.py'

Results: printed, ``results/<stamp>-soak.json`` and a section in ``results/control_plane.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import procstat  # noqa: E402
from benchlib.cpreport import render_soak  # noqa: E402
from control_plane import (  # noqa: E402
    Run,
    Sample,
    collect,
    common_args,
    errors,
    header,
    joins,
    latencies,
    prepare,
    sample,
    save,
    start,
    start_clients,
    wait_events,
    window,
)  # fmt: skip


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minutes, MB), in MB an hour."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return round(sxy / sxx * 60, 2)


def growth(series: list[Sample], t0: float, warmup_min: float) -> dict[str, Any]:
    after = [s for s in series if (s.t - t0) / 60 >= warmup_min]
    return {
        "samples": len(after),
        "serve_first_mb": round(series[0].serve_rss_mb, 1),
        "serve_last_mb": round(series[-1].serve_rss_mb, 1),
        "serve_mb_per_hour": slope_per_hour([((s.t - t0) / 60, s.serve_rss_mb) for s in after]),
        "server_mb_per_hour": slope_per_hour([((s.t - t0) / 60, s.server_rss_mb)
                                              for s in after]),
    }  # fmt: skip


def soak(run: Run, args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    """Churn and actions for ``--minutes``, sampling the server every ``--sample-seconds``."""
    assert run.director is not None
    seconds = args.minutes * 60
    for c in run.crowd:
        c.send(f"churn {args.churn / len(run.crowd)}")
    first = sample(run)
    run.director.send(f"script {seconds} {args.rate}")
    series = [first]
    end = first.t + seconds
    while time.monotonic() < end:
        time.sleep(max(0.0, min(args.sample_seconds, end - time.monotonic())))
        series.append(sample(run))
        s = series[-1]
        print(f"    {(s.t - first.t) / 60:5.1f} min: serve RSS {s.serve_rss_mb:.1f} MB, "
              f"with children {s.server_rss_mb:.1f} MB, load {s.loadavg}", flush=True)
    wait_events([run.director], "script_done", 300, run)
    return series, window("soak", first, series[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    common_args(parser, 1000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--churn", type=float, default=2.0, help="members a second, in all")
    parser.add_argument("--rate", type=float, default=1.0, help="actions a second")
    args = parser.parse_args()
    commit, log_dir = prepare(args, "podium-soak-logs-")
    raw = header(args, commit)
    run, accounts = start(args, log_dir)
    try:
        time.sleep(3)
        start_clients(run, accounts)
        print(f"--- joins: {args.clients} over {args.join_seconds} s", flush=True)
        joined, _, _ = joins(run, args.join_seconds)
        print(f"    {joined['joined']} joined; --- soak: {args.minutes} min", flush=True)
        series, whole = soak(run, args)
        summaries, files, actions = collect(run)
    finally:
        run.stop()
    t0 = series[0].t
    raw |= {
        "clients_connected": joined["joined"],
        "joins": joined,
        "window": whole,
        "growth": growth(series, t0, args.warmup_minutes),
        "rss_series": [{"min": round((s.t - t0) / 60, 1), "serve_rss_mb": round(s.serve_rss_mb, 1),
                        "server_rss_mb": round(s.server_rss_mb, 1), "loadavg": s.loadavg}
                       for s in series],
        "latency": latencies(actions, files, joined["joined"]),
        "client_processes": summaries,
        "replay_estimate_mb": round(sum(s.get("replay_estimate_mb", 0.0) for s in summaries), 1),
        "errors": errors(summaries, run),
        "loadavg_end": procstat.machine()["loadavg"],
    }  # fmt: skip
    text = render_soak(raw)
    print(text)
    if not args.no_save:
        print(f"saved {save(raw, text, 'soak')}", flush=True)


if __name__ == "__main__":
    main()
