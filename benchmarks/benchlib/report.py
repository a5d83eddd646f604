"""Markdown for results/HISTORY.md from run.py's raw result dictionary."""

from __future__ import annotations

import json
from typing import Any

from benchlib.procstat import percentile


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _case_table(cases: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | N | connected | server CPU (core) | **µs/pkt** (user+sys) | delivered pps "
        "(due) | loss | listener pps min/p50/max | RSS kB/listener | server threads | "
        "loadgen µs/pkt (procs) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        if "skipped" in c or "server_cpu_frac" not in c:
            lines.append(
                f"| {c['target']} | {c['n']} | | | | | | | | | | "
                f"{c.get('skipped') or c.get('saturated', '')} |"
            )
            continue
        status = f"**saturated**: {c['saturated']}" if c["saturated"] else "ok"
        lines.append(
            f"| {c['target']} | {c['n']} | {c['connected']} | {c['server_cpu_frac']:.0%} | "
            f"**{c['server_us_per_pkt']}** ({c['server_user_us_per_pkt']}+"
            f"{c['server_sys_us_per_pkt']}) | {c['delivered_pps']:.0f} ({c['due_pps']}) | "
            f"{c['loss']:.2%} | {c['listener_pps_min']}/{c['listener_pps_p50']}/"
            f"{c['listener_pps_max']} | {c['rss_kb_per_listener']} | {c['server_threads']} | "
            f"{c['loadgen_us_per_pkt']} ({c['loadgen_procs']}) | {status} |"
        )
    return lines


def _ratios(cases: list[dict[str, Any]]) -> list[str]:
    measured = [c for c in cases if "server_us_per_pkt" in c]
    ns = sorted({c["n"] for c in measured})
    janus_best: dict[int, dict[str, Any]] = {}
    for c in measured:
        if c["target"].startswith("janus") and not c["saturated"]:
            best = janus_best.get(c["n"])
            if best is None or c["server_us_per_pkt"] < best["server_us_per_pkt"]:
                janus_best[c["n"]] = c
    podium_labels = sorted({c["target"] for c in measured if c["target"].startswith("podium")})
    head = "| N | Janus best (config) µs/pkt | " + " | ".join(
        f"{label} µs/pkt | {label} / Janus" for label in podium_labels
    )
    lines = [head + " |", "|---" * (2 + 2 * len(podium_labels)) + "|"]
    for n in ns:
        jb = janus_best.get(n)
        row = [str(n), f"{jb['server_us_per_pkt']} ({jb['target']})" if jb else "–"]
        for label in podium_labels:
            pc = next((c for c in measured if c["target"] == label and c["n"] == n), None)
            if pc is None:
                row += ["–", "–"]
                continue
            mark = " (saturated)" if pc["saturated"] else ""
            row.append(f"{pc['server_us_per_pkt']}{mark}")
            row.append(f"{pc['server_us_per_pkt'] / jb['server_us_per_pkt']:.2f}×" if jb else "–")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _joins(cases: list[dict[str, Any]]) -> list[str]:
    lines = []
    for c in cases:
        joins = c.get("join_to_first_audio_ms") or []
        if joins:
            lines.append(
                f"- {c['target']}: n={len(joins)} sequential joins, p50 "
                f"{percentile(joins, 50):.0f} ms, p95 {percentile(joins, 95):.0f} ms, "
                f"max {max(joins):.0f} ms"
            )
    return lines


def _quality(q: dict[str, Any]) -> list[str]:
    if not q:
        return ["(not run)"]
    if "error" in q:
        return [f"quality run failed: {q['error']}"]
    lines = [f"Speech clip: {q.get('speech_source', '?')}.", ""]
    delay = q.get("delay", {})
    if delay:
        lines += [
            "| path | clicks matched | p50 ms | p95 ms | added vs p2p p50 / p95 ms |",
            "|---|---|---|---|---|",
        ]
        base = delay.get("p2p", {})
        for path, d in delay.items():
            if "p50_ms" not in d:
                lines.append(f"| {path} | {d.get('error', '–')} | | | |")
                continue
            added = "–"
            if path != "p2p" and "p50_ms" in base:
                added = f"{d['p50_ms'] - base['p50_ms']:.1f} / {d['p95_ms'] - base['p95_ms']:.1f}"
            lines.append(
                f"| {path} | {d['matched']}/{d['sent']} | {d['p50_ms']:.1f} | "
                f"{d['p95_ms']:.1f} | {added} |"
            )
        lines.append("")
    pesq = q.get("pesq", {})
    if pesq:
        losses = sorted({k for v in pesq.values() for k in v})
        lines += [
            "| path | " + " | ".join(f"PESQ-WB at {k} loss" for k in losses) + " |",
            "|---" * (1 + len(losses)) + "|",
        ]
        for path, by_loss in pesq.items():
            lines.append(
                f"| {path} | " + " | ".join(_fmt(by_loss.get(k), 2) for k in losses) + " |"
            )
    return lines


def _layout(cases: list[dict[str, Any]]) -> str:
    if any(c.get("shared_cores") for c in cases):
        return "Server (a worker per core), feeder and load generators all on cores 0-1"
    return "Server on core 0, feeder and load generators on core 1"


def render(raw: dict[str, Any]) -> str:
    m = raw["machine"]
    cases = raw["cases"]
    gen = [c["loadgen_us_per_pkt"] for c in cases if "loadgen_us_per_pkt" in c]
    lines = [
        f"## Media benchmark matrix, {raw['date']} (run.py)",
        "",
        f"Machine: nproc={m['nproc']}, CPU {m['cpu_model']}, kernel {m['kernel']}, "
        f"Python {m['python']}. Engine: `{raw['engine']}` "
        f"(src/podium at {raw.get('podium_commit', '?')}). {_layout(cases)}; "
        f"{raw['window_s']:.0f} s window per case; loopback only "
        f"(private network namespace). Whole run: {raw['elapsed_min']} min.",
        "",
        "µs/pkt = server utime+stime over the window ÷ RTP packets counted at the listeners "
        "(delivered, not sent). Loss = 1 − delivered ÷ (N × packets due a second × window); "
        "due: 50 pkt/s with 20 ms packets (Janus always), 25 with 40 ms, 16.7 with 60 ms.",
        "",
        *_case_table(cases),
        "",
        "Podium / Janus (server µs per delivered listener-packet; Janus = its best unsaturated "
        "config at that N):",
        "",
        *_ratios(cases),
        "",
        "Load generator's own cost: "
        + (f"{min(gen)}–{max(gen)} µs per counted packet." if gen else "–"),
        "",
        "Join → first audio packet (offer/watch sent → first RTP datagram at the listener):",
        "",
        *(_joins(cases) or ["(none)"]),
        "",
        "Quality (one speaker → server → one decoding listener):",
        "",
        *_quality(raw.get("quality", {})),
        "",
        "<details><summary>raw</summary>",
        "",
        "```json",
        json.dumps(raw, indent=1),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines)
