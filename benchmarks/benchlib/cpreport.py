"""Markdown summaries of control_plane.py and soak.py runs (results/control_plane.md)."""

from __future__ import annotations

from typing import Any


def _head(raw: dict[str, Any], title: str) -> list[str]:
    m, o = raw["machine"], raw["options"]
    return [
        f"## {title}, {raw['date']}",
        "",
        f"podium {raw['podium_commit'][:10]}; {m['nproc']} × {m['cpu_model']}, "
        f"Python {m['python']}; load average {m['loadavg']} at start, "
        f"{raw.get('loadavg_end', '?')} at end (cores shared with other work). "
        f"{o['clients']} clients in {o['client_procs']} crowd processes + the director "
        f"(host, {o['moderators']} moderators, {o['active']} active listeners); "
        f"signed in by {'session cookie (browsers)' if o['auth'] == 'cookie' else 'API token'}; "
        f"permessage-deflate {'off' if o['no_compression'] else 'offered (as browsers)'}; "
        f"{o['database_url'] or 'SQLite'}.",
        "",
    ]


def _lat_table(lat: dict[str, Any]) -> list[str]:
    rows = ["| step | deliveries | p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|"]
    for name, d in lat["per_recipient_ms"].items():
        rows.append(f"| {name} | {d['n']} | {d['p50']} | {d['p90']} | {d['p99']} | {d['max']} |")
    for name, d in lat["last_recipient_ms"].items():
        rows.append(f"| {name}: last recipient of each action | {d['n']} | {d['p50']} | "
                    f"{d['p90']} | {d['p99']} | {d['max']} |")  # fmt: skip
    for path, d in lat["reply_ms"].items():
        if d["n"]:
            rows.append(f"| reply to the actor over {path} | {d['n']} | {d['p50']} | "
                        f"{d['p90']} | {d['p99']} | {d['max']} |")  # fmt: skip
    return rows


def _errors(raw: dict[str, Any]) -> str:
    e = raw["errors"]
    parts = [f"{k}: {v}" for k, v in {**e["clients"], **e["server_logged"]}.items()]
    missing = raw["latency"]["broadcast_deliveries_missing"]
    parts.append(f"broadcast deliveries missing: {missing}")
    return "; ".join(parts)


def _windows(raw: dict[str, Any]) -> list[str]:
    rows = ["| window | seconds | server CPU (cores) | of which serve | clients CPU | "
            "machine busy | other work | serve RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for w in raw["windows"]:
        clients = round(sum(w["clients_cpu_cores"].values()), 2)
        rows.append(f"| {w['window']} | {w['seconds']} | {w['server_cpu_cores']} | "
                    f"{w['serve_cpu_cores']} | {clients} | {w['machine_busy_cores']} | "
                    f"{w['other_cores']} | {w['serve_rss_mb']} |")  # fmt: skip
    return rows


def render_load(raw: dict[str, Any]) -> str:
    o, mem, fps = raw["options"], raw["memory"], raw["frames_per_s"]
    lines = _head(raw, "Control plane: one room, one node")
    lines += [
        f"- connected and joined: **{raw['clients_connected']}** of {o['clients']}, joins over "
        f"{o['join_seconds']} s; connect (WebSocket + hello) p50 {raw['connect_ms']['p50']} / "
        f"p99 {raw['connect_ms']['p99']} ms; `join` command p50 {raw['join_ms']['p50']} / "
        f"p99 {raw['join_ms']['p99']} ms; generator lag p99 {raw['start_late_ms']['p99']} ms",
        f"- memory: serve RSS {mem['serve_rss_mb_before']} → {mem['serve_rss_mb_after_joins']} "
        f"MB with everyone in (**{mem['kb_per_client']} KB per client**), "
        f"{mem['server_rss_mb_after_script']} MB with its children after the script",
        f"- script: {raw['latency']['actions']} actions in {o['script_seconds']} s "
        f"({o['rate']}/s asked); frames received by all clients a second: "
        f"**{fps['script']['mean']}** mean, {fps['script']['peak']} peak "
        f"(joins: {fps['joins']['mean']} mean, {fps['joins']['peak']} peak)",
        f"- errors: {_errors(raw)}",
        "",
        *_windows(raw),
        "",
        "Event delivery latency, action's call → arrival at each client "
        "(broadcast = accept, mute, unmute, move to audience: every member):",
        "",
        *_lat_table(raw["latency"]),
    ]
    return "\n".join(lines)


def render_soak(raw: dict[str, Any]) -> str:
    o, g = raw["options"], raw["growth"]
    lines = _head(raw, f"Soak: {o['minutes']} minutes")
    churn: dict[str, int] = {}
    for s in raw["client_processes"]:
        for k, v in s.get("churn", {}).items():
            churn[k] = churn.get(k, 0) + v
    lines += [
        f"- population {raw['clients_connected']} connected; churn {o['churn']}/s asked "
        f"({', '.join(f'{k} {v}' for k, v in churn.items())}); actions {o['rate']}/s "
        f"({raw['latency']['actions']} done)",
        f"- serve RSS {g['serve_first_mb']} → {g['serve_last_mb']} MB; after "
        f"{o['warmup_minutes']} min of warm-up, linear fit: **{g['serve_mb_per_hour']} MB/hour** "
        f"(with children {g['server_mb_per_hour']} MB/hour) over {g['samples']} samples; the "
        f"crowd's sessions' replay buffers, estimated from the frames they received: "
        f"{raw['replay_estimate_mb']} MB at the end",
        f"- server CPU over the soak: {raw['window']['server_cpu_cores']} cores "
        f"(machine busy {raw['window']['machine_busy_cores']}, "
        f"other work {raw['window']['other_cores']})",
        f"- errors: {_errors(raw)}",
        "",
        "RSS samples (minutes: serve MB): " + ", ".join(
            f"{s['min']}: {s['serve_rss_mb']}" for s in raw["rss_series"]),
        "",
        *_lat_table(raw["latency"]),
    ]  # fmt: skip
    return "\n".join(lines)
