"""Where a Podium server's CPU goes at N listeners: CPU per process, then a py-spy profile.

Run inside a loopback-only namespace, like run.py (whose pieces it reuses):

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/profile_worker.py -n 1000'

Starts bench_server.py (core 0), the feeder and the load generators (core 1), waits until
every listener is connected, measures each server process's CPU over a few seconds, then
records each with ``py-spy record --format raw`` (py-spy is in the bench extras) and prints
the functions that took most of the non-idle samples. Raw profiles stay in the log dir.

py-spy samples wall time: the server process and its worker share core 0, so the worker's
run after each frame the server writes to it shows up in the server's profile as time in
``write`` (the server is preempted there). Its CPU share above is the figure to trust.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402
from benchlib import procstat  # noqa: E402


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(raw: Path, top: int) -> list[str]:
    """Share of non-idle samples per function (inclusive), from py-spy's raw output."""
    inclusive: collections.Counter[str] = collections.Counter()
    active = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")]
        if "select" in frames[-1]:  # the event loop waiting: idle
            idle += int(count)
            continue
        active += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
    lines = [f"  {active} active samples, {idle} idle"]
    for name, n in inclusive.most_common(top):
        lines.append(f"  {n / max(active, 1):6.1%}  {name}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=1000, help="listeners")
    parser.add_argument("--speakers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10, help="py-spy duration")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples a second")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    run.check_namespace()
    run.setup_netns()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    log_dir = Path(tempfile.mkdtemp(prefix="podium-profile-"))
    wav = log_dir / "speech.wav"
    run.speech_wav(wav)
    env = run.Env("podium.media.embedded.EmbeddedEngine", str(wav), log_dir, 3, 10, 240)
    case = run.Case("podium", args.n, args.speakers)
    server, feeder = run.start_target(case, env)
    generators = run.start_loadgens(case, env)
    try:
        for g in generators:
            g.event(env.setup_timeout + 60)
        time.sleep(3)
        pids = procstat.tree(server.pid)
        before = {p: cpu_seconds(p) for p in pids}
        time.sleep(3)
        share = {p: (cpu_seconds(p) - before[p]) / 3 for p in pids}
        print(f"{args.n} listeners, {args.speakers} speaker(s); logs in {log_dir}")
        for p in pids:
            role = "server" if p == server.pid else "worker"
            print(f"{role} {p}: {share[p]:.3f} of a core")
        spies = [
            subprocess.Popen(
                [spy, "record", "-p", str(p), "-d", str(args.seconds), "-r", str(args.rate),
                 "-f", "raw", "-o", str(log_dir / f"{p}.txt"), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for p in pids
        ]
        for s in spies:
            s.wait()
        for p in pids:
            print(f"--- {p} (inclusive share of non-idle samples)")
            raw = log_dir / f"{p}.txt"
            print("\n".join(summarize(raw, args.top)) if raw.exists() else "  (py-spy failed)")
    finally:
        run.stop_case(server, feeder, generators)


if __name__ == "__main__":
    main()
