"""Throwaway Janus instances for tests: configs under a temp dir, distinct ports, stopped after.

Janus 1.1.2 skips loopback interfaces when gathering ICE candidates, so (as in
shared/reference/janus-bench) a veth that exists only inside the test's private network
namespace carries 127.0.0.2; Janus enforces that address, and clients that talk to Janus must
gather their own candidates on 127.0.0.2 too (libnice binds to the device).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ICE_ADDRESS = "127.0.0.2"
LIB = "/usr/lib/x86_64-linux-gnu/janus"
API_SECRET = "test-api-secret"
ADMIN_SECRET = "test-admin-secret"
_PLUGINS_OFF = ",".join(f"libjanus_{p}.so" for p in (
    "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "textroom", "videocall",
    "videoroom", "voicemail", "streaming"))
_TRANSPORTS_OFF = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so," \
    "libjanus_websockets.so"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable() -> str:
    """Why Janus tests cannot run here ('' when they can)."""
    if shutil.which("janus") is None:
        return "the janus Debian package is not installed"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 (a netns-only veth for Janus's ICE)"
    return ""


def ensure_ice_address() -> None:
    """Put 127.0.0.2 on a netns-only veth (idempotent). Only ever run inside `unshare -n`."""
    if ICE_ADDRESS in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout:
        return
    for cmd in (["ip", "link", "add", "jv0", "type", "veth", "peer", "name", "jv1"],
                ["ip", "addr", "add", f"{ICE_ADDRESS}/32", "dev", "jv0"],
                ["ip", "link", "set", "jv1", "up"], ["ip", "link", "set", "jv0", "up"]):
        subprocess.run(cmd, check=True, capture_output=True)


@dataclass
class JanusProcess:
    root: Path
    api_port: int
    admin_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def entry(self) -> str:
        """The ``janus_instances`` entry for Podium's settings."""
        return (f"http://127.0.0.1:{self.api_port}/janus|{API_SECRET}"
                f"|http://127.0.0.1:{self.admin_port}/admin")

    def write_configs(self, rtp_range: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "janus.jcfg").write_text(f"""
general: {{
  configs_folder = "{self.root}"
  plugins_folder = "{LIB}/plugins"
  transports_folder = "{LIB}/transports"
  events_folder = "{LIB}/events"
  loggers_folder = "{LIB}/loggers"
  debug_level = 4
  api_secret = "{API_SECRET}"
  admin_secret = "{ADMIN_SECRET}"
  hide_dependencies = true
}}
certificates: {{ }}
media: {{ ipv6 = false }}
nat: {{ ice_enforce_list = "{ICE_ADDRESS}"  ignore_mdns = true  nice_debug = false }}
plugins: {{ disable = "{_PLUGINS_OFF}" }}
transports: {{ disable = "{_TRANSPORTS_OFF}" }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
events: {{ broadcast = false }}
""")
        (self.root / "janus.transport.http.jcfg").write_text(f"""
general: {{ json = "plain"  base_path = "/janus"  http = true  port = {self.api_port}
           ip = "127.0.0.1"  https = false }}
admin: {{ admin_base_path = "/admin"  admin_http = true  admin_port = {self.admin_port}
         admin_ip = "127.0.0.1"  admin_https = false }}
cors: {{ }}
""")
        (self.root / "janus.plugin.audiobridge.jcfg").write_text(
            f'general: {{ rtp_port_range = "{rtp_range}"  local_ip = "127.0.0.1" }}\n')

    def launch(self, rtp_range: str) -> None:
        self.write_configs(rtp_range)
        with open(self.root / "janus.log", "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                ["janus", "-F", str(self.root), "-C", str(self.root / "janus.jcfg"), "-N"],
                stdout=log, stderr=subprocess.STDOUT)

    async def start(self, rtp_range: str, timeout: float = 20.0) -> None:
        self.launch(rtp_range)
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"janus exited: see {self.root / 'janus.log'}")
                try:
                    r = await http.get(f"http://127.0.0.1:{self.api_port}/janus/info")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("janus did not start")
                await asyncio.sleep(0.05)  # polls a condition (the API answers), with a deadline

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def start_instances(base: Path, count: int) -> list[JanusProcess]:
    ensure_ice_address()
    procs = [JanusProcess(base / f"janus{i}", _free_port(), _free_port()) for i in range(count)]
    try:
        for i, proc in enumerate(procs):
            await proc.start(f"{20000 + 10000 * i}-{29999 + 10000 * i}")
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs
