"""The nginx example in docs/deployment.md works as written, on Debian's nginx: TLS, the
redirect from plain HTTP, the app, the realtime WebSocket upgrade and the monitoring routes.

The block is read from the document itself (so the document cannot drift from what is
tested); only the addresses, ports and certificate paths are replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import re
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.api.helpers import member, ok

DOC = Path(__file__).parents[2] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _doc_block() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/deployment.md should hold one nginx example"
    return blocks[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podium.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _config(folder: Path, http_port: int, https_port: int, upstream: str) -> Path:
    cert, key = _self_signed(folder)
    block = _doc_block()
    block = block.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    block = block.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    block = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", block)
    block = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", block)
    block = block.replace("http://127.0.0.1:8000", upstream)
    # The redirect names the standard port; the test's HTTPS port is another one.
    block = block.replace("return 301 https://$host$request_uri;",
                          f"return 301 https://$host:{https_port}$request_uri;")
    conf = folder / "nginx.conf"
    temp = folder / "tmp"
    temp.mkdir()
    conf.write_text(f"""daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{block}
}}
""")
    return conf


@contextlib.asynccontextmanager
async def _nginx(conf: Path, port: int) -> AsyncIterator[None]:
    check = await asyncio.create_subprocess_exec(
        NGINX, "-t", "-c", str(conf), stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(check.communicate(), 30)
    assert check.returncode == 0, f"nginx refuses the documented config:\n{err.decode()}"
    proc = await asyncio.create_subprocess_exec(NGINX, "-c", str(conf))
    try:
        for _ in range(500):  # until it listens: nginx has no readiness signal
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            assert proc.returncode is None, (conf.parent / "error.log").read_text()
            await asyncio.sleep(0.01)
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def test_the_documented_nginx_config_serves_podium_over_tls(
        tmp_path: Path, make_server: Callable[..., Any]) -> None:
    http_port, https_port = _free_port(), _free_port()
    public = f"https://127.0.0.1:{https_port}"
    async with make_server(public_url=public) as server:
        conf = _config(tmp_path, http_port, https_port, server.url)
        trust = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        async with _nginx(conf, https_port), httpx.AsyncClient(verify=trust) as http:
            plain = await http.get(f"http://127.0.0.1:{http_port}/room/x")
            assert plain.status_code == 301
            assert plain.headers["location"] == f"{public}/room/x"

            page = await http.get(f"{public}/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            health = await http.get(f"{public}/healthz")  # from 127.0.0.1: allowed
            assert health.status_code == 200, health.text

            alice = await member(server, "alice")
            room = ok(await http.post(f"{public}/api/v1/rooms", json={"title": "Via nginx"},
                                      headers={"Authorization": f"Bearer {alice.token}"}), 201)
            async with websockets.connect(
                    f"wss://127.0.0.1:{https_port}/api/v1/ws", ssl=trust,
                    additional_headers={"Authorization": f"Bearer {alice.token}"}) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "hello", hello
                await ws.send(json.dumps({"id": "j", "type": "join", "room_id": room["id"]}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame.get("id") == "j":
                        break
                assert frame["type"] == "reply", frame
