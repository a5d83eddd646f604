"""Podium media benchmark matrix (Podium's engine vs Janus's Streaming plugin), one command.

Must run as root inside a loopback-only network namespace; use run_all.sh, which does::

    unshare -n sh -c 'ip link set lo up && python benchmarks/run.py'

Layout (2 cores): the target server is pinned to core 0, feeders and load generators to
core 1 (``taskset``). For each case it starts the server, the audio feeder and enough
loadgen.py processes, waits until every listener is connected and hearing audio, lets it
settle, then measures over one window: server utime+stime from /proc/PID/stat, packets
counted at the listeners, the generators' own CPU, and server RSS growth per listener.
A target that cannot keep up (loss, a full core, or listeners that never connect) is
recorded as saturated and not escalated further. Then the quality checks (quality.py):
mouth-to-ear delay and PESQ. Results are printed and appended to results/HISTORY.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


from benchlib import history, procstat  # noqa: E402
from benchlib.audio import speech_wav  # noqa: E402
from benchlib.report import render  # noqa: E402

PY = sys.executable
SERVER_CORE, LOAD_CORE = "0", "1"
PACKETS_PER_S = 50
SOCKET = "/tmp/podium-bench.sock"
JANUS_HTTP = ("127.0.0.1", 8088)
MAX_PER_LOADGEN = 1000
SATURATED_LOSS = 0.10  # > 10 % of due packets missing (a shared machine adds a few %)
SATURATED_CPU = 0.95  # server busy > 95 % of its core
CHILD_ENV = dict(os.environ)


def use_podium_ref(ref: str) -> str:
    """Import ``podium`` from ``git archive REF`` (other people edit src/ while we measure).

    Returns the commit measured; ``worktree`` keeps the working tree's src/ (for trying an
    engine that is not committed yet).
    """
    repo = HERE.parent
    if ref == "worktree":
        return "worktree"
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = Path(tempfile.mkdtemp(prefix=f"podium-{commit[:8]}-"))
    paths = ["src/podium", "setup.py", "pyproject.toml"]
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "--name-only", commit, *paths],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, *listed], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    if "setup.py" in listed:  # the compiled fan-out loop (src/podium/media/_fanout.c)
        subprocess.run(
            [PY, "setup.py", "-q", "build_ext", "--inplace"], cwd=dest, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
        [str(dest / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return commit


class Child:
    """A subprocess whose stdout is read as JSON lines, with timeouts."""

    def __init__(self, argv: list[str], name: str, log_dir: Path, tag: str = "") -> None:
        self.name = name
        # one log per case and process (a later case must not overwrite an earlier one's)
        self.err = (log_dir / f"{tag}{name}.err").open("w")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=CHILD_ENV
        )
        self._buf = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def event(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no output within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited (rc={self.proc.poll()})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.err.close()


def kill_leftovers(pids: list[int]) -> None:
    """SIGKILL what is left of a server's process tree (worker processes that outlived it
    would keep closing their peers on the server's core during the next case)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.1)


def stop_case(server: Child, feeder: Child, loadgens: list[Child]) -> None:
    """Stop a case's generators, feeder and server, and whatever its server left behind."""
    for g in loadgens:
        g.send("quit")
    server_tree = procstat.tree(server.pid)
    for child in (*loadgens, feeder, server):
        child.stop()
    kill_leftovers(server_tree)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


# -- targets ----------------------------------------------------------------------------------


@dataclass
class Case:
    target: str  # "podium" or "janus"
    n: int
    speakers: int = 1
    janus_loops: int | None = None  # None = Janus default (a loop thread per handle)
    timed_joins: int = 0
    ptime: int = 20  # Podium's listener packet time (PODIUM_MEDIA_LISTENER_PTIME_MS)
    passthrough: bool = True  # PODIUM_MEDIA_PASSTHROUGH (a lone speaker's packets forwarded)
    fanout: str = "compiled"  # PODIUM_MEDIA_FANOUT: the compiled loop or the Python one
    compiled: bool | None = None  # what the server reported it runs
    cores: int = 1  # cores the server may use (2 with --share-cores)

    @property
    def pps(self) -> float:
        """Packets a second due to each listener (Janus is always fed 20 ms packets)."""
        return 1000 / self.ptime if self.target == "podium" else PACKETS_PER_S

    @property
    def variant(self) -> str:
        parts = [f"ptime{self.ptime}"] if self.ptime != 20 else []
        parts += [] if self.passthrough else ["encoded"]
        return "-".join(parts + ([] if self.fanout == "compiled" else ["python-loop"]))

    @property
    def tag(self) -> str:
        """Prefix of this case's log files, e.g. ``podium-s5-n2000-``."""
        if self.target == "podium":
            variant = f"{self.variant}-" if self.variant else ""
            return f"podium-s{self.speakers}-{variant}n{self.n}-"
        return f"janus-{self.janus_loops or 'default'}-n{self.n}-"

    @property
    def label(self) -> str:
        if self.target == "podium":
            return f"podium S={self.speakers}" + (f" {self.variant}" if self.variant else "")
        if self.janus_loops is None:
            return "janus default"
        return f"janus event_loops={self.janus_loops}"


@dataclass
class Env:
    engine: str
    wav: str
    log_dir: Path
    warmup: float
    window: float
    setup_timeout: float
    share_cores: bool = False  # server (one worker per core) and generators on both cores
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def server_core(self) -> str:
        return "0,1" if self.share_cores else SERVER_CORE

    @property
    def load_core(self) -> str:
        return "0,1" if self.share_cores else LOAD_CORE


def janus_conf(loops: int | None, log_dir: Path) -> Path:
    conf = Path(tempfile.mkdtemp(prefix="janus-conf-"))
    for name in ("janus.transport.http.jcfg", "janus.plugin.streaming.jcfg"):
        shutil.copy(HERE / "janus" / name, conf / name)
    text = (HERE / "janus" / "janus.jcfg.in").read_text()
    text = text.replace("@CONF_DIR@", str(conf))
    text = text.replace("@EVENT_LOOPS@", f"event_loops = {loops}" if loops else "")
    (conf / "janus.jcfg").write_text(text)
    return conf


def wait_port(addr: tuple[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(addr) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {addr}")


def start_target(case: Case, env: Env) -> tuple[Child, Child]:
    """Start the server (core 0) and its audio feeder (core 1); return both."""
    case.cores = len(env.server_core.split(","))
    if case.target == "podium":
        CHILD_ENV["PODIUM_MEDIA_LISTENER_PTIME_MS"] = str(case.ptime)
        CHILD_ENV["PODIUM_MEDIA_PASSTHROUGH"] = str(case.passthrough).lower()
        CHILD_ENV["PODIUM_MEDIA_FANOUT"] = case.fanout
        server = Child(
            pinned(env.server_core, [PY, str(HERE / "bench_server.py"), "--engine", env.engine,
                                     "--speakers", str(case.speakers), "--socket", SOCKET]),
            "server", env.log_dir, case.tag,
        )  # fmt: skip
        case.compiled = bool(server.event(30).get("compiled"))
        feeder = Child(
            pinned(env.load_core, [PY, str(HERE / "feeder.py"), "podium", "--wav", env.wav,
                               "--speakers", str(case.speakers), "--socket", SOCKET]),
            "feeder", env.log_dir, case.tag,
        )  # fmt: skip
    else:
        conf = janus_conf(case.janus_loops, env.log_dir)
        argv = ["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"), "-N", "-o",
                "-L", str(env.log_dir / "janus.log")]  # fmt: skip
        server = Child(pinned(env.server_core, argv), "janus", env.log_dir, case.tag)
        wait_port(JANUS_HTTP, 20)
        feeder = Child(
            pinned(env.load_core, [PY, str(HERE / "feeder.py"), "rtp", "--wav", env.wav]),
            "feeder", env.log_dir, case.tag,
        )  # fmt: skip
    feeder.event(60)
    time.sleep(1.0)
    return server, feeder


def start_loadgens(case: Case, env: Env) -> list[Child]:
    procs = max(1, math.ceil(case.n / MAX_PER_LOADGEN))
    sizes = [case.n // procs + (1 if i < case.n % procs else 0) for i in range(procs)]
    children = []
    uid = 1000
    for i, size in enumerate(sizes):
        argv = [PY, str(HERE / "loadgen.py"), "--target", case.target, "-n", str(size),
                "--uid-base", str(uid), "--socket", SOCKET,
                "--setup-timeout", str(env.setup_timeout),
                "--timed-joins", str(case.timed_joins if i == 0 else 0),
                "--ice-host", "127.0.0.1" if case.target == "podium" else "127.0.0.2"]  # fmt: skip
        children.append(Child(pinned(env.load_core, argv), f"loadgen{i}", env.log_dir, case.tag))
        uid += size
    return children


# -- one measurement ------------------------------------------------------------------------


def measure(case: Case, env: Env,
            server_cpu: Callable[[int], procstat.Cpu] = procstat.tree_cpu) -> dict[str, Any]:
    """``server_cpu``: the server's CPU from its pid (captions.py leaves out the recognisers)."""
    print(f"--- {case.label}, N={case.n}", flush=True)
    server, feeder = start_target(case, env)
    loadgens: list[Child] = []
    try:
        rss_base = procstat.tree_rss_mb(server.pid)
        loadgens = start_loadgens(case, env)
        ready = [g.event(env.setup_timeout + 60) for g in loadgens]
        rss_full = procstat.tree_rss_mb(server.pid)
        time.sleep(env.warmup)
        for g in loadgens:
            g.send("mark")
        cpu0, t0 = server_cpu(server.pid), time.monotonic()
        marks0 = [g.event(30) for g in loadgens]
        time.sleep(max(0.0, env.window - (time.monotonic() - t0)))
        for g in loadgens:
            g.send("mark")
        cpu1, t1 = server_cpu(server.pid), time.monotonic()
        marks1 = [g.event(30) for g in loadgens]
        threads = sum(procstat.threads(p) for p in procstat.tree(server.pid))
    finally:
        stop_case(server, feeder, loadgens)
    result = summarize(case, ready, marks0, marks1, cpu1 - cpu0, t1 - t0, rss_base, rss_full,
                       threads)  # fmt: skip
    result["shared_cores"] = env.share_cores
    return result


def summarize(
    case: Case,
    ready: list[dict[str, Any]],
    marks0: list[dict[str, Any]],
    marks1: list[dict[str, Any]],
    server_cpu: procstat.Cpu,  # summed over the server's process tree
    wall: float,
    rss_base: float,
    rss_full: float,
    threads: int,
) -> dict[str, Any]:
    rates: list[float] = []
    delivered = 0
    gen_cpu = 0.0
    for m0, m1 in zip(marks0, marks1, strict=True):
        dt = m1["t"] - m0["t"]
        # the same listeners in the same order (only connected ones are listed)
        for a, b in zip(m0["per_listener"], m1["per_listener"], strict=False):
            rates.append((b - a) / dt)
            delivered += b - a
        gen_cpu += (m1["cpu_user"] + m1["cpu_sys"]) - (m0["cpu_user"] + m0["cpu_sys"])
    connected = sum(m["connected"] for m in marks1)
    due = case.n * case.pps * wall
    loss = 1 - delivered / due if due else 0.0
    cpu_frac = server_cpu.total / wall
    saturated_why = []
    if loss > SATURATED_LOSS:
        saturated_why.append(f"loss {loss:.1%}")
    if cpu_frac > SATURATED_CPU * case.cores:
        saturated_why.append(f"server CPU {cpu_frac:.0%}")
    if connected < case.n:
        saturated_why.append(f"only {connected}/{case.n} connected")
    joins = [j for r in ready for j in r["join_to_first_audio_ms"]]
    result = {
        "target": case.label,
        "n": case.n,
        "speakers": case.speakers,
        "connected": connected,
        "setup_s": max(r["setup_s"] for r in ready),
        "setup_errors": sum(r["error_count"] for r in ready),
        "first_errors": [e for r in ready for e in r["errors"]][:3],
        "window_s": round(wall, 2),
        "server_cpu_frac": round(cpu_frac, 4),
        "server_user_frac": round(server_cpu.user / wall, 4),
        "server_sys_frac": round(server_cpu.system / wall, 4),
        "server_threads": threads,
        "delivered_pps": round(delivered / wall, 1),
        "due_pps": round(case.n * case.pps, 1),
        "ptime_ms": case.ptime if case.target == "podium" else 20,
        "passthrough": case.passthrough if case.target == "podium" else None,
        "fanout": case.fanout if case.target == "podium" else None,
        "compiled_fanout": case.compiled,
        "loss": round(loss, 4),
        "listener_pps_min": round(min(rates), 2) if rates else 0,
        "listener_pps_p50": round(statistics.median(rates), 2) if rates else 0,
        "listener_pps_max": round(max(rates), 2) if rates else 0,
        "server_us_per_pkt": round(server_cpu.total / max(delivered, 1) * 1e6, 2),
        "server_user_us_per_pkt": round(server_cpu.user / max(delivered, 1) * 1e6, 2),
        "server_sys_us_per_pkt": round(server_cpu.system / max(delivered, 1) * 1e6, 2),
        "rss_base_mb": round(rss_base, 1),
        "rss_full_mb": round(rss_full, 1),
        "rss_kb_per_listener": round((rss_full - rss_base) * 1024 / case.n, 1),
        "loadgen_procs": len(ready),
        "loadgen_cpu_frac": round(gen_cpu / wall, 4),
        "loadgen_us_per_pkt": round(gen_cpu / max(delivered, 1) * 1e6, 2),
        "loadgen_rss_mb": round(sum(m["rss_mb"] for m in marks1), 1),
        "srtp_verified_ok": sum(m["verified_ok"] for m in marks1),
        "srtp_verified_bad": sum(m["verified_bad"] for m in marks1),
        "join_to_first_audio_ms": joins,
        "saturated": "; ".join(saturated_why),
        "loadavg": procstat.machine()["loadavg"],
    }
    print(
        f"    connected {connected}/{case.n}, server {cpu_frac:.0%} of a core, "
        f"{result['server_us_per_pkt']} µs/pkt, delivered {result['delivered_pps']}/"
        f"{result['due_pps']} pps (loss {loss:.2%}), {result['rss_kb_per_listener']} kB/listener,"
        f" loadgen {result['loadgen_us_per_pkt']} µs/pkt {result['saturated']}",
        flush=True,
    )
    return result


# -- matrix -----------------------------------------------------------------------------------


def run_series(cases: list[Case], env: Env, deadline: float) -> None:
    """Ascending N for one target configuration; stop after the first saturated point."""
    for case in cases:
        if time.monotonic() > deadline:
            print(f"    time budget spent: skipping {case.label} N={case.n}", flush=True)
            env.results.append({"target": case.label, "n": case.n, "skipped": "time budget"})
            break
        try:
            result = measure(case, env)
        except Exception as exc:  # a crashed or hung case counts as saturated
            print(f"    failed: {exc!r}", flush=True)
            result = {"target": case.label, "n": case.n, "saturated": f"failed: {exc!r}"}
        env.results.append(result)
        if result.get("saturated"):
            break


def setup_netns() -> None:
    """127.0.0.2 on a namespace-only veth: Janus ignores loopback interfaces for ICE."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if "jv0" in links:
        return
    for cmd in (
        "ip link set lo up",
        "ip link add jv0 type veth peer name jv1",
        "ip addr add 127.0.0.2/32 dev jv0",
        "ip link set jv1 up",
        "ip link set jv0 up",
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
    ):
        subprocess.run(cmd.split(), check=True)


def check_namespace() -> None:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3]
        if not addr.startswith("127."):
            sys.exit(f"refusing to run: non-loopback address {addr} (use run_all.sh / unshare -n)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", default="podium.media.embedded.EmbeddedEngine")
    parser.add_argument(
        "--podium-ref", default="HEAD", help="git ref of src/podium to measure, or 'worktree'"
    )
    parser.add_argument("--ns", default="100,500,1000,2000,4000")
    parser.add_argument("--speakers", default="1,5", help="Podium speaker counts")
    parser.add_argument("--targets", default="podium,janus")
    parser.add_argument("--janus-configs", default="default,loops1")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--setup-timeout", type=float, default=120.0)
    parser.add_argument("--timed-joins", type=int, default=30)
    parser.add_argument("--budget-min", type=float, default=20.0, help="stop escalating after")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--ptimes", default="20", help="Podium listener packet times to run, e.g. 20,40,60"
    )
    parser.add_argument(
        "--no-passthrough", action="store_true", help="Podium encodes even a lone speaker"
    )
    parser.add_argument(
        "--fanouts", default="compiled", help="Podium fan-out loops to run: compiled,python"
    )
    parser.add_argument(
        "--share-cores",
        action="store_true",
        help="server and generators share cores 0-1 (Podium then runs a worker per core)",
    )
    args = parser.parse_args()

    # SIGTERM/SIGINT unwind through the cases' ``finally`` so no server or generator is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    check_namespace()
    setup_netns()
    podium_commit = use_podium_ref(args.podium_ref)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    log_dir = Path(tempfile.mkdtemp(prefix="podium-bench-logs-"))
    wav = str(log_dir / "speech.wav")
    speech_source = speech_wav(Path(wav))
    env = Env(args.engine, wav, log_dir, args.warmup, args.window, args.setup_timeout,
              args.share_cores)  # fmt: skip
    started = time.monotonic()
    deadline = started + args.budget_min * 60
    ns = [int(x) for x in args.ns.split(",")]
    targets = args.targets.split(",")
    print(f"logs in {log_dir}; speech clip from {speech_source}", flush=True)

    if "podium" in targets:
        variants = [(int(p), f) for p in args.ptimes.split(",") for f in args.fanouts.split(",")]
        for s in (int(x) for x in args.speakers.split(",")):
            for ptime, loop in variants:
                run_series(
                    [Case("podium", n, s, timed_joins=args.timed_joins if i == 0 else 0,
                          ptime=ptime, passthrough=not args.no_passthrough, fanout=loop)
                     for i, n in enumerate(ns)], env, deadline,
                )  # fmt: skip
    if "janus" in targets and shutil.which("janus"):
        for cfg in args.janus_configs.split(","):
            loops = None if cfg == "default" else int(cfg.removeprefix("loops"))
            run_series(
                [Case("janus", n, janus_loops=loops, timed_joins=args.timed_joins if i == 0 else 0)
                 for i, n in enumerate(ns)], env, deadline,
            )  # fmt: skip
    elif "janus" in targets:
        print("janus is not installed (apt-get install -y janus): skipped", flush=True)

    quality: dict[str, Any] = {}
    if not args.no_quality:
        cmd = [PY, str(HERE / "quality.py"), "--engine", args.engine, "--wav", wav,
               "--log-dir", str(log_dir)]  # fmt: skip
        print("--- quality: mouth-to-ear delay and PESQ", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
        sys.stderr.write(done.stderr[-3000:])
        if done.returncode == 0 and done.stdout.strip():
            quality = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            quality = {"error": f"quality.py exited {done.returncode}"}
        quality["speech_source"] = speech_source

    stamp = datetime.datetime.now(datetime.UTC)
    raw = {
        "date": stamp.isoformat(timespec="seconds"),
        "machine": procstat.machine(),
        "engine": args.engine,
        "podium_commit": podium_commit,
        "window_s": args.window,
        "elapsed_min": round((time.monotonic() - started) / 60, 1),
        "cases": env.results,
        "quality": quality,
    }
    text = render(raw)
    print(text)
    if not args.no_save:
        out_dir = HERE / "results"
        out_dir.mkdir(exist_ok=True)
        (out_dir / f"{stamp.strftime('%Y%m%dT%H%M%SZ')}.json").write_text(json.dumps(raw, indent=1))
        history.append(text)


if __name__ == "__main__":
    main()
