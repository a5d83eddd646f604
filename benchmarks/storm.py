"""Sign-in and join storms through the real ``podium serve`` (issue #17).

Does the audio of people already listening stutter while others sign in or join in a burst?
One run, one server, one room with one speaker and ``--steady`` listeners, three windows:

* A, steady: ``--steady-seconds`` (10) with nothing else happening;
* B, sign-ins: ``--signins`` sign-ins (argon2 on the server) spread evenly over
  ``--storm-seconds``; the window is those seconds plus one;
* C, joins: ``--joins`` new listeners (join + rtc + ICE/DTLS) spread evenly over
  ``--storm-seconds``, never waiting for each other; the window runs from the first join until
  the last joiner hears audio (or ``--join-timeout``, 30 s).

For each window: the steady listeners' delivered packets ÷ due (50 a second each), their
longest gap between RTP arrivals (kernel receive times, SO_TIMESTAMPNS), how many had a gap
over 60 / 100 ms, and CPU per process (the server, its media workers, every generator).
Sign-in latencies; per-join API latencies, join → first audio, joins completed a second.

Run as root in a loopback-only network namespace, from the repository root::

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/storm.py'

Processes: ``podium serve`` (and its media workers), the speaker, ``--steady-procs`` loadgen.py
processes (``--target podium-http --timestamps``), one sign-in process and ``--join-procs``
joiner processes (storm_clients.py). Results are printed, saved as
``results/<UTC stamp>-storm.json`` and appended to results/HISTORY.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import history, procstat  # noqa: E402
from benchlib.audio import speech_wav  # noqa: E402
from benchlib.stormreport import render  # noqa: E402
from run import CHILD_ENV, Child, check_namespace, kill_leftovers, use_podium_ref, wait_port  # noqa: E402, I001, E501

PY = sys.executable
PPS = 50  # packets a second due to each listener (20 ms)
GENERATOR_BUSY = 0.90  # a generator above this share of a core may be what limits a figure
# Limits per client address that would refuse the benchmark (every client is 127.0.0.1).
# Per-account limits are left as they are: no account here does anything more than once.
RAISED_LIMITS = {
    "PODIUM_RATE_SIGNIN": "1000000/1",
    "PODIUM_LOCKOUT_FAILURES_PER_ADDRESS": "1000000",
    "PODIUM_RATE_SIGNUP": "1000000/1",
    "PODIUM_RATE_INVITE_CHECK": "1000000/1",
}


@dataclass
class Procs:
    """Every process the run started, by role."""

    server: Child
    log_dir: Path
    speaker: Child | None = None
    loadgens: list[Child] = field(default_factory=list)
    signin: Child | None = None
    joiners: list[Child] = field(default_factory=list)

    def generators(self) -> dict[str, Child]:
        named = {f"loadgen{i}": g for i, g in enumerate(self.loadgens)}
        named |= {f"joiners{i}": g for i, g in enumerate(self.joiners)}
        if self.speaker:
            named["speaker"] = self.speaker
        if self.signin:
            named["signins"] = self.signin
        return named

    def stop(self) -> None:
        clients = [*self.loadgens, *self.joiners, self.signin, self.speaker]
        for child in clients:
            if child is not None:
                child.send("quit")
        server_tree = procstat.tree(self.server.pid)
        for child in clients:
            if child is not None:
                child.stop()
        self.server.stop()
        kill_leftovers(server_tree)


@dataclass
class Mark:
    """One instant: the steady generators' snapshots and every process's CPU seconds."""

    t: float
    loadgens: list[dict[str, Any]]
    cpu: dict[str, float]  # label -> utime+stime seconds
    machine_busy: float  # all cores' busy seconds (/proc/stat), other work included
    udp: dict[str, int]  # this namespace's UDP counters (/proc/net/snmp)
    loadavg: str


# -- setup ------------------------------------------------------------------------------------


def server_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    database_url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'podium.db'}"
    env = {
        "PODIUM_DATA_DIR": str(data_dir),
        "PODIUM_DATABASE_URL": database_url,
        "PODIUM_HOST": "127.0.0.1",
        "PODIUM_PORT": str(args.port),
        "PODIUM_ICE_HOSTS": "127.0.0.1",
        "PODIUM_SECRET_KEY": secrets.token_urlsafe(48),
        **RAISED_LIMITS,
    }
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def make_accounts(args: argparse.Namespace, log_dir: Path) -> Path:
    """``podium migrate``, then the members straight into the database (not timed)."""
    cli = [PY, "-m", "podium.cli.main"]
    subprocess.run([*cli, "migrate"], env=CHILD_ENV, check=True, stdout=subprocess.DEVNULL)
    out = log_dir / "accounts.json"
    subprocess.run(
        [PY, str(HERE / "storm_clients.py"), "accounts", "--database-url",
         CHILD_ENV["PODIUM_DATABASE_URL"], "--out", str(out), "--tag", secrets.token_hex(2),
         "--steady", str(args.steady), "--joiners", str(args.joins),
         "--signins", str(args.signins), *(["--sessions"] if getattr(args, "sessions", False)
                                           else [])],
        env=CHILD_ENV, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def client(role: str, name: str, log_dir: Path, base_url: str, *extra: str) -> Child:
    argv = [PY, str(HERE / "storm_clients.py"), role, "--base-url", base_url, *extra]
    return Child(argv, name, log_dir)


def start_steady(args: argparse.Namespace, procs: Procs, accounts: Path, room: str,
                 base_url: str) -> list[dict[str, Any]]:  # fmt: skip
    """The steady listeners, split over ``--steady-procs`` loadgen.py processes; set up one
    after another (setting up two at once only makes each slower on two shared cores)."""
    steady_tokens = procs.log_dir / "steady-tokens.json"
    steady_tokens.write_text(json.dumps(json.loads(accounts.read_text())["steady"]))
    parts = max(1, args.steady_procs)
    sizes = [args.steady // parts + (i < args.steady % parts) for i in range(parts)]
    ready, offset = [], 0
    for i, size in enumerate(sizes):
        argv = [PY, str(HERE / "loadgen.py"), "--target", "podium-http", "-n", str(size),
                "--base-url", base_url, "--tokens", str(steady_tokens), "--room", room,
                "--token-offset", str(offset), "--timestamps", "--share-cert",
                "--setup-timeout", str(args.setup_timeout)]  # fmt: skip
        procs.loadgens.append(Child(argv, f"loadgen{i}", procs.log_dir))
        ready.append(procs.loadgens[-1].event(args.setup_timeout + 60))
        print(f"    loadgen{i}: {ready[-1]['connected']}/{size} connected in "
              f"{ready[-1]['setup_s']} s", flush=True)  # fmt: skip
        offset += size
    return ready


def start_storm_clients(args: argparse.Namespace, procs: Procs, accounts: Path, room: str,
                        base_url: str) -> list[dict[str, Any]]:  # fmt: skip
    """The sign-in process and the joiner processes; each is ready once its offers exist."""
    procs.signin = client("signins", "signins", procs.log_dir, base_url,
                          "--accounts", str(accounts), "-n", str(args.signins))  # fmt: skip
    parts = max(1, args.join_procs)
    for i in range(parts):
        procs.joiners.append(client(
            "joiners", f"joiners{i}", procs.log_dir, base_url, "--accounts", str(accounts),
            "--room", room, "-n", str(args.joins), "--part", str(i), "--parts", str(parts),
            "--timeout", str(args.join_timeout)))  # fmt: skip
    return [c.event(300) for c in (procs.signin, *procs.joiners)]


# -- measuring --------------------------------------------------------------------------------


def cpu_by_process(procs: Procs) -> dict[str, float]:
    """utime+stime seconds of the server, each of its children, and each generator."""
    seconds: dict[str, float] = {}
    for pid in procstat.tree(procs.server.pid):
        try:
            seconds[label(pid, procs.server.pid)] = procstat.cpu(pid).total
        except (OSError, IndexError):
            continue  # exited in between
    for name, child in procs.generators().items():
        try:
            seconds[name] = procstat.cpu(child.pid).total
        except (OSError, IndexError):
            continue
    return seconds


def label(pid: int, server_pid: int) -> str:
    if pid == server_pid:
        return "server: serve"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        argv = []
    if b"podium.media.worker" in argv:
        return f"server: media worker {pid}"
    return f"server: child {pid} {b' '.join(argv[:3]).decode(errors='replace')[:60]}"


def machine_busy() -> float:
    """Busy seconds summed over all cores (everything on the machine, not only this run)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / procstat.CLK_TCK


def udp_counters() -> dict[str, int]:
    """UDP InErrors / RcvbufErrors of this network namespace: datagrams a full socket lost."""
    lines = [x.split() for x in Path("/proc/net/snmp").read_text().splitlines()
             if x.startswith("Udp:")]  # fmt: skip
    stats = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))
    return {k: stats.get(k, 0) for k in ("InDatagrams", "InErrors", "RcvbufErrors")}


def mark(procs: Procs) -> Mark:
    for g in procs.loadgens:
        g.send("mark")
    t = time.monotonic()
    cpu, busy, udp = cpu_by_process(procs), machine_busy(), udp_counters()
    loadavg = procstat.machine()["loadavg"]
    return Mark(t, [g.event(60) for g in procs.loadgens], cpu, busy, udp, str(loadavg))


def window(name: str, m0: Mark, m1: Mark) -> dict[str, Any]:
    """Figures for the steady listeners and every process between two marks."""
    wall = m1.t - m0.t
    listeners = delivered = due = 0.0
    gaps: list[float] = []
    over_60 = over_100 = 0
    for a, b in zip(m0.loadgens, m1.loadgens, strict=True):
        dt = (b["t"] - a["t"])  # this generator's own window (its marks' times)
        counts = [y - x for x, y in zip(a["packets_all"], b["packets_all"], strict=True)]
        listeners += len(counts)
        delivered += sum(counts)
        due += len(counts) * PPS * dt
        gaps += [g for g in b["gap_ms"] if g is not None]
        over_60 += sum(b["over_60"])
        over_100 += sum(b["over_100"])
    cpu = {k: round((v - m0.cpu.get(k, 0.0)) / wall, 3) for k, v in sorted(m1.cpu.items())}
    busy = (m1.machine_busy - m0.machine_busy) / wall
    return {
        "window": name,
        "seconds": round(wall, 2),
        "steady_listeners": int(listeners),
        "delivered": int(delivered),
        "due": round(due),
        "delivered_frac": round(delivered / due, 5) if due else None,
        "longest_gap_ms": max(gaps, default=None),
        "gap_p50_ms": procstat.percentile(gaps, 50) if gaps else None,
        "gap_p99_ms": procstat.percentile(gaps, 99) if gaps else None,
        "listeners_gap_over_60ms": sum(g > 60 for g in gaps),
        "listeners_gap_over_100ms": sum(g > 100 for g in gaps),
        "gaps_over_60ms": over_60,
        "gaps_over_100ms": over_100,
        "srtp_verified_bad": sum(b["verified_bad"] - a["verified_bad"]
                                 for a, b in zip(m0.loadgens, m1.loadgens, strict=True)),
        "cpu_cores": cpu,  # per process, share of one core
        "server_cpu_cores": round(sum(v for k, v in cpu.items() if k.startswith("server")), 3),
        "machine_busy_cores": round(busy, 3),
        # other people's work on the machine (and kernel work charged to no process of ours)
        "other_cores": round(max(0.0, busy - sum(cpu.values())), 3),
        "udp_rcvbuf_errors": m1.udp["RcvbufErrors"] - m0.udp["RcvbufErrors"],
        "loadavg": m1.loadavg,
    }  # fmt: skip


def steady_window(procs: Procs, seconds: float) -> dict[str, Any]:
    m0 = mark(procs)
    time.sleep(seconds)
    return window("A: steady", m0, mark(procs))


def signin_window(procs: Procs, seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    assert procs.signin is not None
    t0 = time.monotonic() + 0.5
    procs.signin.send(f"go {t0} {seconds}")
    time.sleep(max(0.0, t0 - time.monotonic()))
    m0 = mark(procs)
    time.sleep(max(0.0, t0 + seconds + 1.0 - time.monotonic()))
    result = window("B: sign-ins", m0, mark(procs))
    return result, procs.signin.event(120)


def join_window(procs: Procs, seconds: float, timeout: float) -> tuple[dict[str, Any],
                                                                       list[dict[str, Any]]]:
    """From the first join until every joiner has audio (or gave up at T0 + timeout)."""
    t0 = time.monotonic() + 0.5
    for j in procs.joiners:
        j.send(f"go {t0} {seconds}")
    time.sleep(max(0.0, t0 - time.monotonic()))
    m0 = mark(procs)
    done = [j.event(timeout + 60) for j in procs.joiners]
    result = window("C: joins", m0, mark(procs))
    return result, done


# -- summaries --------------------------------------------------------------------------------


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    return {"p50": procstat.percentile(values, 50), "p95": procstat.percentile(values, 95),
            "max": max(values), "n": len(values)}  # fmt: skip


def signin_summary(done: dict[str, Any]) -> dict[str, Any]:
    rows = done["signins"]
    return {
        "n": len(rows),
        "status": dict(collections.Counter(str(r["status"]) for r in rows)),
        "ms": stats([r["ms"] for r in rows if r["status"] == 200]),
        "start_late_ms_max": max((r["late_ms"] for r in rows), default=None),
    }


def join_summary(done: list[dict[str, Any]], storm_seconds: float) -> dict[str, Any]:
    rows = [r for d in done for r in d["joiners"]]
    ok = [r for r in rows if r["status"] == 200]
    audio = [r for r in ok if r["first_audio_ms"] is not None]
    answered = [r["start_s"] + (r["join_ms"] + r["rtc_ms"]) / 1000 for r in ok]
    last_audio = max((r["audio_at_s"] for r in audio), default=None)
    return {
        "n": len(rows),
        "offered_per_s": round(len(rows) / storm_seconds, 1),
        "status": dict(collections.Counter(str(r["status"])[:60] for r in rows)),
        "with_audio": len(audio),
        "connected_at_end": sum(r["state"] == "connected" for r in rows),
        "join_ms": stats([r["join_ms"] for r in ok]),
        "rtc_ms": stats([r["rtc_ms"] for r in ok]),
        "first_audio_ms": stats([r["first_audio_ms"] for r in audio]),
        "first_audio_seen_ms": stats([r["first_audio_seen_ms"] for r in audio]),
        "start_late_ms": stats([r["late_ms"] for r in rows if r["late_ms"] is not None]),
        "api_joins_per_s": round(len(ok) / max(answered), 1) if answered else None,
        "audio_joins_per_s": round(len(audio) / last_audio, 1) if last_audio else None,
        "last_audio_s": last_audio,
    }


def limits(windows: list[dict[str, Any]], setup: list[dict[str, Any]],
           steady: int) -> list[str]:  # fmt: skip
    """Where a figure may be the generators' or the machine's limit rather than the server's."""
    notes = []
    connected = sum(r["connected"] for r in setup)
    if connected < steady:
        notes.append(f"only {connected} of {steady} steady listeners connected at setup")
    for w in windows:
        for name, share in w["cpu_cores"].items():
            if not name.startswith("server") and share >= GENERATOR_BUSY:
                notes.append(f"{w['window']}: generator {name} used {share:.0%} of a core")
        if w["machine_busy_cores"] >= 1.9:
            notes.append(f"{w['window']}: the machine was saturated "
                         f"({w['machine_busy_cores']:.2f} of 2 cores busy, "
                         f"{w['other_cores']:.2f} by work outside this run)")  # fmt: skip
        elif w["other_cores"] >= 0.3:
            notes.append(f"{w['window']}: work outside this run used "
                         f"{w['other_cores']:.2f} cores")  # fmt: skip
        if w["udp_rcvbuf_errors"]:
            notes.append(f"{w['window']}: {w['udp_rcvbuf_errors']} datagrams dropped by full "
                         "socket buffers (generator too slow to drain, or the server's)")
    return notes


# -- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="podium-storm-data-"))
    env = server_env(args, data_dir)
    CHILD_ENV.update(env)
    accounts = make_accounts(args, log_dir)
    tokens = json.loads(accounts.read_text())
    base_url = f"http://127.0.0.1:{args.port}/api/v1"
    server = Child([PY, "-m", "podium.cli.main", "serve"], "server", log_dir)
    procs = Procs(server, log_dir)
    try:
        wait_port(("127.0.0.1", args.port), 60)
        wav = str(log_dir / "speech.wav")
        speech = speech_wav(Path(wav))
        procs.speaker = client("speaker", "speaker", log_dir, base_url,
                               "--token", tokens["host"], "--wav", wav)  # fmt: skip
        room = procs.speaker.event(60)["room"]
        print(f"--- room {room}: setting up {args.steady} steady listeners", flush=True)
        setup = start_steady(args, procs, accounts, room, base_url)
        clients = start_storm_clients(args, procs, accounts, room, base_url)
        time.sleep(args.warmup)
        print("--- A: steady", flush=True)
        a = steady_window(procs, args.steady_seconds)
        time.sleep(args.pause)
        print("--- B: sign-ins", flush=True)
        b, signins = signin_window(procs, args.storm_seconds)
        time.sleep(args.pause)
        print("--- C: joins", flush=True)
        c, joins = join_window(procs, args.storm_seconds, args.join_timeout)
    finally:
        procs.stop()
    windows = [a, b, c]
    return {
        "setup": setup, "storm_clients": clients, "windows": windows,
        "signins": signin_summary(signins), "joins": join_summary(joins, args.storm_seconds),
        "limits": limits(windows, setup, args.steady), "speech_source": speech,
        "server_errors": server_errors(log_dir),
        "server_env": {k: v for k, v in env.items() if k != "PODIUM_SECRET_KEY"},
        "raw_signins": signins["signins"], "raw_joins": [r for d in joins for r in d["joiners"]],
    }  # fmt: skip


def server_errors(log_dir: Path) -> dict[str, int]:
    """The exceptions the server logged (last line of each traceback), counted."""
    found: collections.Counter[str] = collections.Counter()
    for line in (log_dir / "server.err").read_text(errors="replace").splitlines():
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            found[line[:160]] += 1
    return dict(found.most_common(10))


def save(raw: dict[str, Any], text: str) -> Path:
    stamp = datetime.datetime.fromisoformat(raw["date"]).strftime("%Y%m%dT%H%M%SZ")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{stamp}-storm.json"
    path.write_text(json.dumps(raw, indent=1))
    history.append(text)
    return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steady", type=int, default=1000, help="listeners already there")
    parser.add_argument("--signins", type=int, default=50)
    parser.add_argument("--joins", type=int, default=500)
    parser.add_argument("--storm-seconds", type=float, default=5.0, help="each storm's spread")
    parser.add_argument("--steady-seconds", type=float, default=10.0, help="window A")
    parser.add_argument("--join-timeout", type=float, default=30.0, help="window C at most")
    parser.add_argument("--steady-procs", type=int, default=2, help="loadgen.py processes")
    parser.add_argument("--join-procs", type=int, default=2, help="joiner processes")
    parser.add_argument("--podium-ref", default="HEAD", help="git ref of src/podium, or worktree")
    parser.add_argument("--database-url", default="", help="e.g. PostgreSQL (default: SQLite)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--env", action="append", default=[], metavar="PODIUM_X=VALUE",
                        help="more server settings (repeatable)")  # fmt: skip
    parser.add_argument("--setup-timeout", type=float, default=300.0, help="per loadgen")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--pause", type=float, default=3.0, help="between windows")
    parser.add_argument("--no-save", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # SIGTERM/SIGINT unwind through ``finally`` so no server or generator is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    check_namespace()
    commit = use_podium_ref(args.podium_ref)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    log_dir = Path(tempfile.mkdtemp(prefix="podium-storm-logs-"))
    print(f"logs in {log_dir}; src/podium at {commit}", flush=True)
    started = time.monotonic()
    raw = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": procstat.machine(),
        "podium_commit": commit,
        "options": {k: v for k, v in vars(args).items() if k != "no_save"},
        **run(args, log_dir),
        "elapsed_min": round((time.monotonic() - started) / 60, 1),
    }
    text = render(raw)
    print(text)
    if not args.no_save:
        print(f"saved {save(raw, text)}", flush=True)


if __name__ == "__main__":
    main()
