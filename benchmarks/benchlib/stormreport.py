"""Markdown for results/HISTORY.md from storm.py's raw result dictionary."""

from __future__ import annotations

import json
from typing import Any


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _cpu(w: dict[str, Any]) -> tuple[str, str]:
    """(server processes, generators): each process's share of one core."""
    server: list[str] = []
    gens: list[str] = []
    for name, share in w["cpu_cores"].items():
        short = name.removeprefix("server: ").replace("media worker", "worker")
        (server if name.startswith("server") else gens).append(f"{short} {share:.0%}")
    return ", ".join(server), ", ".join(gens)


def _windows(windows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| window | s | steady listeners | **delivered** | **longest gap ms** | gap p50 / p99 ms"
        " | listeners with gap > 60 / > 100 ms | server CPU (per process, of a core) | "
        "generators' CPU | machine busy (cores) | other work (cores) | socket drops | loadavg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        server, gens = _cpu(w)
        lines.append(
            f"| {w['window']} | {w['seconds']:.1f} | {w['steady_listeners']} | "
            f"**{_pct(w['delivered_frac'])}** | **{_ms(w['longest_gap_ms'])}** | "
            f"{_ms(w['gap_p50_ms'])} / {_ms(w['gap_p99_ms'])} | "
            f"{w['listeners_gap_over_60ms']} / {w['listeners_gap_over_100ms']} | "
            f"{w['server_cpu_cores']:.2f}: {server} | {gens} | {w['machine_busy_cores']:.2f} | "
            f"{w['other_cores']:.2f} | {w['udp_rcvbuf_errors']} | {w['loadavg']} |"
        )
    return lines


def _dist(d: dict[str, Any]) -> str:
    return f"p50 {_ms(d['p50'])} / p95 {_ms(d['p95'])} / max {_ms(d['max'])} ms"


def _storms(raw: dict[str, Any]) -> list[str]:
    s, j = raw["signins"], raw["joins"]
    return [
        f"- **Sign-ins** ({s['n']}, argon2 on the server): status {s['status']}; latency "
        f"{_dist(s['ms'])}.",
        f"- **Joins** ({j['n']} offered at {j['offered_per_s']}/s): status {j['status']}, "
        f"{j['with_audio']} heard audio (the last {j['last_audio_s']} s after the first join), "
        f"{j['connected_at_end']} connected at the end. "
        f"API join {_dist(j['join_ms'])}; rtc {_dist(j['rtc_ms'])}; **join → first audio "
        f"{_dist(j['first_audio_ms'])}** (kernel receive time of the first RTP; as read by the "
        f"generator: {_dist(j['first_audio_seen_ms'])}). Completed: "
        f"**{j['api_joins_per_s']} joins/s** through the API (join + rtc answered), "
        f"{j['audio_joins_per_s']}/s to first audio. Generator lag in starting joins: "
        f"{_dist(j['start_late_ms'])}.",
    ]


def _setup(raw: dict[str, Any]) -> str:
    setup = raw["setup"]
    connected = sum(r["connected"] for r in setup)
    seconds = sum(r["setup_s"] for r in setup)
    rate = f"{connected / seconds:.0f}/s" if seconds else "–"
    return (f"Setup (not part of any window): {connected} of {raw['options']['steady']} steady "
            f"listeners connected through the API in {seconds:.0f} s ({rate}, "
            f"{sum(r['retried'] for r in setup)} retried, 24 at a time per generator).")


def render(raw: dict[str, Any]) -> str:
    m, o = raw["machine"], raw["options"]
    summary = {k: v for k, v in raw.items() if not k.startswith("raw_")}
    lines = [
        f"## Sign-in and join storms, {raw['date']} (storm.py)",
        "",
        f"Machine: nproc={m['nproc']}, CPU {m['cpu_model']}, kernel {m['kernel']}, Python "
        f"{m['python']}; load average at the start {m['loadavg']}. `podium serve` (src/podium at "
        f"{raw['podium_commit']}), {'PostgreSQL' if o['database_url'] else 'SQLite'}, default "
        "media workers; every process shares both cores; loopback only (private network "
        f"namespace). One room, one speaker (speech clip: {raw['speech_source']}), "
        f"{o['steady']} steady listeners; storms spread over {o['storm_seconds']:g} s. "
        f"Whole run: {raw['elapsed_min']} min.",
        "",
        "Delivered = RTP packets counted at the steady listeners ÷ (listeners × 50/s × window). "
        "Gaps: between consecutive RTP datagrams at each steady listener, kernel receive times "
        "(SO_TIMESTAMPNS); the silence still open at a window's end counts in that window.",
        "",
        *_windows(raw["windows"]),
        "",
        *_storms(raw),
        "",
        _setup(raw),
        "",
        "Server errors logged: "
        + (", ".join(f"`{k}` ×{n}" for k, n in raw["server_errors"].items()) or "none") + ".",
        "",
        "What may limit these figures: "
        + ("; ".join(raw["limits"]) if raw["limits"] else "nothing flagged") + ".",
        "",
        "<details><summary>raw (per-join and per-sign-in rows: results/*-storm.json)</summary>",
        "",
        "```json",
        json.dumps(summary, indent=1),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines)
