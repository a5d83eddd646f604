"""Control-plane load through the real ``podium serve``: thousands of WebSockets in one room.

No audio: what a big room costs the server in signalling alone. One run, one server, one room:

1. setup (not timed): the members straight into the database (``storm_clients.py accounts``),
   ``podium serve``; the director process (control_clients.py) creates the room as the host,
   brings ``--moderators`` on stage as moderators, and joins ``--active`` listeners who will act;
2. **joins**: ``--clients`` WebSockets in ``--client-procs`` crowd processes, connecting and
   joining evenly over ``--join-seconds`` (60);
3. **idle**: ``--idle-seconds`` (10) with everyone connected and nothing happening;
4. **script**: ``--script-seconds`` (60) of actions at ``--rate`` a second: hands raised,
   invitations to speak accepted, mutes and unmutes, moves back to the audience, by the host
   (over HTTP) and the moderators (over their sockets).

Measured: server CPU (``serve`` and its children, /proc) per phase; RSS before and after the
joins (and per client); event delivery latency (the action's call → the event's arrival at
each client, CLOCK_MONOTONIC: every process runs on this machine) p50 / p99 by step; frames
delivered a second; every error (refused connections, error frames, sequence gaps, closes,
broadcast events a member never got). Run as root in a loopback-only network namespace::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -u benchmarks/control_plane.py'

Results: printed, ``results/<stamp>-control-plane.json`` and a section appended to
``results/control_plane.md``. The soak (soak.py) reuses the pieces below.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import resource
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import storm  # noqa: E402
from benchlib import procstat  # noqa: E402
from benchlib.cpreport import render_load  # noqa: E402
from run import CHILD_ENV, Child, check_namespace, kill_leftovers, use_podium_ref, wait_port  # noqa: E402, I001, E501

PY = sys.executable
CLIENTS = str(HERE / "control_clients.py")
# Broadcast steps: every member of the room receives their event.
BROADCAST = {"accept_invite", "mute", "unmute", "move_to_audience"}
ORDER = ["raise_hand", "invite_to_speak", "accept_invite", "mute", "unmute", "move_to_audience",
         "broadcast", "all"]


@dataclass
class Run:
    """Every process of one run, and where their logs and reports go."""

    args: argparse.Namespace
    log_dir: Path
    server: Child | None = None
    director: Child | None = None
    crowd: list[Child] = field(default_factory=list)
    room: str = ""
    members: int = 0  # the director's sockets (host, moderators, active listeners)

    def clients(self) -> dict[str, Child]:
        named = {f"crowd{i}": c for i, c in enumerate(self.crowd)}
        if self.director:
            named["director"] = self.director
        return named

    def stop(self) -> None:
        for child in self.clients().values():
            child.send("quit")
        tree = procstat.tree(self.server.pid) if self.server else []
        for child in self.clients().values():
            child.stop()
        if self.server:
            self.server.stop()
        kill_leftovers(tree)


# -- setup ------------------------------------------------------------------------------------


def start(args: argparse.Namespace, log_dir: Path) -> tuple[Run, Path]:
    """Accounts, the server and the director (the room exists and has its moderators)."""
    data_dir = Path(tempfile.mkdtemp(prefix="podium-cp-data-"))
    CHILD_ENV.update(storm.server_env(args, data_dir))
    people = args.clients  # the crowd + the director's moderators and active listeners
    accounts = storm.make_accounts(argparse.Namespace(
        steady=people, joins=0, signins=0, sessions=args.auth == "cookie"), log_dir)  # fmt: skip
    run = Run(args, log_dir)
    run.server = Child([PY, "-m", "podium.cli.main", "serve"], "server", log_dir)
    wait_port(("127.0.0.1", args.port), 60)
    return run, accounts


def urls(args: argparse.Namespace) -> list[str]:
    return ["--base-url", f"http://127.0.0.1:{args.port}/api/v1",
            "--ws-url", f"ws://127.0.0.1:{args.port}/api/v1/ws",
            "--auth", args.auth,
            *(["--no-compression"] if args.no_compression else [])]  # fmt: skip


def start_clients(run: Run, accounts: Path) -> None:
    args = run.args
    run.director = Child([PY, CLIENTS, "director", "--accounts", str(accounts), *urls(args),
                          "--moderators", str(args.moderators), "--active", str(args.active)],
                         "director", run.log_dir)  # fmt: skip
    ready = run.director.event(300)
    run.room, run.members = ready["room"], ready["members"]
    first = args.moderators + args.active
    crowd = args.clients - run.members
    parts = max(1, args.client_procs)
    sizes = [crowd // parts + (i < crowd % parts) for i in range(parts)]
    offset = first
    for i, size in enumerate(sizes):
        run.crowd.append(Child(
            [PY, CLIENTS, "crowd", "--accounts", str(accounts), *urls(args), "--room", run.room,
             "--offset", str(offset), "--index", str(offset - first), "-n", str(size),
             "--total", str(crowd)], f"crowd{i}", run.log_dir))  # fmt: skip
        offset += size
    for c in run.crowd:
        c.event(120)


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    server_cpu: float  # utime+stime seconds, serve and its children
    serve_cpu: float  # the serve process alone
    clients_cpu: dict[str, float]
    server_rss_mb: float  # serve and its children (media workers)
    serve_rss_mb: float
    machine_busy: float
    loadavg: str


def sample(run: Run) -> Sample:
    assert run.server is not None
    pid = run.server.pid
    clients = {}
    for name, child in run.clients().items():
        try:
            clients[name] = procstat.cpu(child.pid).total
        except (OSError, IndexError):
            continue
    return Sample(time.monotonic(), procstat.tree_cpu(pid).total, procstat.cpu(pid).total,
                  clients, procstat.tree_rss_mb(pid), procstat.rss_mb(pid),
                  storm.machine_busy(), str(procstat.machine()["loadavg"]))  # fmt: skip


def window(name: str, a: Sample, b: Sample) -> dict[str, Any]:
    wall = b.t - a.t
    clients = {k: round((v - a.clients_cpu.get(k, 0.0)) / wall, 3)
               for k, v in b.clients_cpu.items()}  # fmt: skip
    busy = (b.machine_busy - a.machine_busy) / wall
    server = (b.server_cpu - a.server_cpu) / wall
    return {
        "window": name, "seconds": round(wall, 2),
        "server_cpu_cores": round(server, 3),
        "serve_cpu_cores": round((b.serve_cpu - a.serve_cpu) / wall, 3),
        "clients_cpu_cores": clients,
        "machine_busy_cores": round(busy, 3),
        "other_cores": round(max(0.0, busy - server - sum(clients.values())), 3),
        "server_rss_mb": round(b.server_rss_mb, 1), "serve_rss_mb": round(b.serve_rss_mb, 1),
        "loadavg_end": b.loadavg,
    }  # fmt: skip


def wait_events(children: list[Child], kind: str, timeout: float, run: Run,
                series: list[Sample] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Each child's next ``kind`` event, sampling the server once a second meanwhile."""
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    for child in children:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name}: no {kind} within {timeout:.0f} s")
            try:
                event = child.event(1.0)
            except TimeoutError:
                if series is not None:
                    series.append(sample(run))
                continue
            if event.get("event") == kind:
                got.append(event)
                break
    return got


def collect(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Each client process's report: (summaries, arrival files, the director's actions)."""
    summaries, files = [], []
    actions_path = run.log_dir / "director.report.json.actions"
    # the director first: it writes the actions, whose events are all the crowd reports
    for name, child in reversed(run.clients().items()):
        path = run.log_dir / f"{name}.report.json"
        child.send(f"report {path}" + ("" if name == "director" else f" {actions_path}"))
        summaries.append({"process": name, **wait_events([child], "done", 300, run)[0]})
        files.append(json.loads(path.read_text()))
    return summaries, files, json.loads(actions_path.read_text())


# -- figures ----------------------------------------------------------------------------------


def pct(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return round(ordered[rank], 2)


def dist(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"n": len(ordered), "p50": pct(ordered, 50), "p90": pct(ordered, 90),
            "p99": pct(ordered, 99), "max": pct(ordered, 100)}  # fmt: skip


def latencies(actions: list[dict[str, Any]], files: list[dict[str, Any]],
              members: int) -> dict[str, Any]:  # fmt: skip
    """Per step: the call → each client's arrival; and → the last client's (fan-out done)."""
    arrivals: dict[str, list[float]] = {}
    for f in files:
        for rev, times in f["arrivals"].items():
            arrivals.setdefault(rev, []).extend(times)
    by_step: dict[str, list[float]] = {}
    last: dict[str, list[float]] = {}
    missing = 0
    for a in actions:
        got = arrivals.get(str(a["rev"]), [])
        ms = [(t - a["sent"]) * 1000 for t in got]
        by_step.setdefault(a["step"], []).extend(ms)
        by_step.setdefault("all", []).extend(ms)
        if a["step"] in BROADCAST:
            by_step.setdefault("broadcast", []).extend(ms)
            last.setdefault("broadcast", []).append(max(ms, default=math.nan))
            missing += max(0, members - len(got))
    order = [s for s in ORDER if s in by_step]
    return {"per_recipient_ms": {k: dist(by_step[k]) for k in order},
            "last_recipient_ms": {k: dist(v) for k, v in last.items()},
            "reply_ms": {p: dist([a["reply_ms"] for a in actions if a["path"] == p])
                         for p in ("ws", "http")},
            "broadcast_deliveries_missing": missing, "actions": len(actions)}  # fmt: skip


def frames_per_second(files: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Frames the clients received a second, between two instants (whole seconds inside)."""
    total: dict[int, int] = {}
    for f in files:
        for second, n in f["per_second"].items():
            total[int(second)] = total.get(int(second), 0) + n
    inside = [total.get(s, 0) for s in range(math.ceil(t0), math.floor(t1))]
    if not inside:
        return {"mean": None, "peak": None}
    return {"mean": round(sum(inside) / len(inside)), "peak": max(inside)}


def errors(summaries: list[dict[str, Any]], run: Run) -> dict[str, Any]:
    found: dict[str, int] = {}
    for s in summaries:
        for k, v in s["errors"].items():
            found[k] = found.get(k, 0) + v
    return {"clients": found, "server_logged": storm.server_errors(run.log_dir)}


# -- the run ----------------------------------------------------------------------------------


def joins(run: Run, seconds: float) -> tuple[dict[str, Any], list[Sample], float]:
    """Everyone in, spread over ``seconds``; the window ends when the last has joined."""
    series = [sample(run)]
    t0 = time.monotonic() + 1.0
    for c in run.crowd:
        c.send(f"go {t0} {seconds}")
    joined = wait_events(run.crowd, "joined", seconds + 600, run, series)
    series.append(sample(run))
    result = window("joins", series[0], series[-1])
    result["joined"] = sum(j["joined"] for j in joined) + run.members
    return result, series, t0


def script(run: Run, seconds: float, rate: float) -> tuple[dict[str, Any], float, float]:
    assert run.director is not None
    a = sample(run)
    run.director.send(f"script {seconds} {rate}")
    wait_events([run.director], "script_done", seconds + 120, run)
    b = sample(run)
    return window("script", a, b), a.t, b.t


def load(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    run, accounts = start(args, log_dir)
    try:
        time.sleep(3)
        base = sample(run)
        start_clients(run, accounts)
        print(f"--- joins: {args.clients} over {args.join_seconds} s", flush=True)
        joined, series, t0 = joins(run, args.join_seconds)
        print(f"    {joined['joined']} joined; --- idle", flush=True)
        time.sleep(2)
        a = sample(run)
        time.sleep(args.idle_seconds)
        idle = window("idle", a, sample(run))
        print("--- script", flush=True)
        scripted, s0, s1 = script(run, args.script_seconds, args.rate)
        summaries, files, actions = collect(run)
    finally:
        run.stop()
    clients = joined["joined"]
    join_rows = [x for f in files for x in f["join_ms"]]
    return {
        "windows": [joined, idle, scripted],
        "memory": {
            "server_rss_mb_before": round(base.server_rss_mb, 1),
            "serve_rss_mb_before": round(base.serve_rss_mb, 1),
            "server_rss_mb_after_joins": joined["server_rss_mb"],
            "serve_rss_mb_after_joins": joined["serve_rss_mb"],
            "server_rss_mb_after_script": scripted["server_rss_mb"],
            "kb_per_client": round((joined["serve_rss_mb"] - base.serve_rss_mb) * 1024
                                   / max(1, clients), 1),
        },
        "clients_connected": clients,
        "connect_ms": dist([x for f in files for x in f["connect_ms"]]),
        "join_ms": dist(join_rows),
        "start_late_ms": dist([x for f in files for x in f["late_ms"]]),
        "latency": latencies(actions, files, clients),
        "frames_per_s": {"joins": frames_per_second(files, t0, t0 + args.join_seconds),
                         "script": frames_per_second(files, s0, s1)},
        "client_processes": summaries,
        "errors": errors(summaries, run),
        "join_series": [{"t": round(s.t - t0, 1), "server_cpu": round(s.server_cpu, 2),
                         "serve_rss_mb": round(s.serve_rss_mb, 1)} for s in series],
    }  # fmt: skip


# -- saving -----------------------------------------------------------------------------------


def header(args: argparse.Namespace, commit: str) -> dict[str, Any]:
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": procstat.machine(), "podium_commit": commit,
            "options": {k: v for k, v in vars(args).items() if k != "no_save"}}  # fmt: skip


def save(raw: dict[str, Any], text: str, kind: str) -> Path:
    stamp = datetime.datetime.fromisoformat(raw["date"]).strftime("%Y%m%dT%H%M%SZ")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{stamp}-{kind}.json"
    path.write_text(json.dumps(raw, indent=1))
    with (out_dir / "control_plane.md").open("a") as out:
        out.write("\n" + text + "\n")
    return path


def common_args(parser: argparse.ArgumentParser, clients: int) -> None:
    parser.add_argument("--clients", type=int, default=clients, help="WebSockets in the room")
    parser.add_argument("--client-procs", type=int, default=0,
                        help="crowd processes (default: one per 1,500 clients)")
    parser.add_argument("--moderators", type=int, default=3, help="besides the host")
    parser.add_argument("--active", type=int, default=40, help="listeners who act")
    parser.add_argument("--join-seconds", type=float, default=60.0)
    parser.add_argument("--no-compression", action="store_true",
                        help="clients do not offer permessage-deflate (browsers do)")
    parser.add_argument("--auth", choices=("cookie", "token"), default="cookie",
                        help="members' sockets: a session cookie (browsers) or an API token (bots)")
    parser.add_argument("--podium-ref", default="HEAD", help="git ref of src/podium, or worktree")
    parser.add_argument("--database-url", default="", help="e.g. PostgreSQL (default: SQLite)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--env", action="append", default=[], metavar="PODIUM_X=VALUE",
                        help="more server settings (repeatable)")  # fmt: skip
    parser.add_argument("--no-save", action="store_true")


def prepare(args: argparse.Namespace, prefix: str) -> tuple[str, Path]:
    """Signals, namespace check, the ref to run, file limit, log dir."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    check_namespace()
    if not args.client_procs:
        args.client_procs = max(1, math.ceil(args.clients / 1500))
    commit = use_podium_ref(args.podium_ref)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # children inherit it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    log_dir = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"logs in {log_dir}; src/podium at {commit}", flush=True)
    return commit, log_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    common_args(parser, 5000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--script-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2.0, help="actions a second")
    args = parser.parse_args()
    commit, log_dir = prepare(args, "podium-cp-logs-")
    started = time.monotonic()
    raw = header(args, commit)
    raw |= load(args, log_dir)
    raw["loadavg_end"] = procstat.machine()["loadavg"]
    raw["elapsed_min"] = round((time.monotonic() - started) / 60, 1)
    text = render_load(raw)
    print(text)
    if not args.no_save:
        print(f"saved {save(raw, text, 'control-plane')}", flush=True)


if __name__ == "__main__":
    main()
