"""deploy/nginx/voxgate.conf run as shipped, by the current user, in front of given nodes.

``copy`` is the only change made to the shipped config: where it listens (high ports on
127.0.0.1), its nodes, its certificate and its log and challenge paths. ``running`` starts
nginx in the foreground with every path under one directory, so it needs no root.
"""

from __future__ import annotations

import asyncio
import datetime
import getpass
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "voxgate.conf"
SHIPPED_NODES = ("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003")
LIVE = "/etc/letsencrypt/live/voxgate.example.com"


def nginx_binary() -> str:
    """Debian's nginx; skip without it, but fail in CI (``.ci/run`` installs it)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    if found is None:
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the nginx tests: apt-get install nginx")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


def substitute(text: str, old: str, new: str, count: int) -> str:
    """``text`` with ``old`` → ``new``, which must occur exactly ``count`` times."""
    assert text.count(old) == count, f"the shipped config no longer has {old!r} {count} times"
    return text.replace(old, new)


def copy(nodes: list[int], http: int, https: int, cert: Path, key: Path, prefix: Path) -> str:
    """The shipped config for this machine: only its ports, nodes, certificate and paths."""
    text = CONF.read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in nodes)
    shipped = "".join(f"    server {node};\n" for node in SHIPPED_NODES)
    text = substitute(text, shipped, servers, 1)
    text = substitute(text, "    listen 80;\n", f"    listen 127.0.0.1:{http};\n", 1)
    text = substitute(text, "    listen [::]:80;\n", "", 1)
    text = substitute(text, "    listen 443 ssl;\n", f"    listen 127.0.0.1:{https} ssl;\n", 1)
    text = substitute(text, "    listen [::]:443 ssl;\n", "", 1)
    text = substitute(text, f"{LIVE}/fullchain.pem", str(cert), 1)
    text = substitute(text, f"{LIVE}/privkey.pem", str(key), 1)
    text = substitute(text, "/var/log/nginx/", f"{prefix}/", 2)
    return substitute(text, "root /var/www/letsencrypt;", f"root {prefix}/www;", 1)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Node:
    """A ``voxgate serve`` behind nginx: its port, process and log."""

    port: int
    pid: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Nginx:
    """nginx in front of the nodes: its addresses, the nodes, and what it logs."""

    https: str
    http: str
    nodes: list[Node]
    cert: Path
    access_log: Path
    webroot: Path

    @property
    def wss(self) -> str:
        return "wss" + self.https.removeprefix("https")

    def tls(self) -> ssl.SSLContext:
        """Trusts the test's certificate."""
        return ssl.create_default_context(cafile=self.cert)

    def client(self, **options: object) -> httpx.Client:
        """An HTTPS client of nginx."""
        return httpx.Client(base_url=self.https, verify=self.tls(), timeout=10, **options)  # type: ignore[arg-type]

    def aclient(self) -> httpx.AsyncClient:
        """An HTTPS client of nginx, for async tests."""
        return httpx.AsyncClient(base_url=self.https, verify=self.tls(), timeout=10)

    async def participants(self, node: Node, session_id: str) -> list[dict[str, object]] | None:
        """The session's participants as ``node`` itself says (None: it does not hold it)."""
        async with httpx.AsyncClient(base_url=node.url, timeout=5) as client:
            r = await client.get(f"/api/sessions/{session_id}/participants")
        assert r.status_code in (200, 404), r.text
        return r.json()["participants"] if r.status_code == 200 else None

    async def holder(self, session_id: str) -> Node:
        """The one node whose registry holds ``session_id`` (asked directly, not via nginx)."""
        holding = [n for n in self.nodes if await self.participants(n, session_id) is not None]
        assert len(holding) == 1, f"{session_id} is held by {holding}"
        return holding[0]

    def logged(self) -> int:
        """Lines in nginx's access log so far."""
        return len(self.access_log.read_text().splitlines())

    async def served(self, method: str, path: str, since: int) -> tuple[str, int]:
        """The session nginx saw and the node port it chose for ``method path``, logged after
        line ``since`` (nginx logs a request once its answer has gone)."""
        pattern = re.compile(
            rf'"{method} {re.escape(path)} HTTP/[\d.]+" .* '
            r"session=(\S*) upstream=127\.0\.0\.1:(\d+)"
        )
        for _ in range(100):
            lines = self.access_log.read_text().splitlines()[since:]
            if found := [m for line in lines if (m := pattern.search(line))]:
                return found[-1][1], int(found[-1][2])
            await asyncio.sleep(0.05)
        raise AssertionError(f"no access log line for {method} {path}")


def _wrapper(prefix: Path) -> str:
    """An nginx.conf around the copy: temporary files under ``prefix``."""
    # as root, nginx's workers would run as nobody, who may not read the test's files
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"{user}worker_processes 1;\nevents {{}}\nhttp {{\n{temp}    include voxgate.conf;\n}}\n"


@contextmanager
def running(nodes: list[Node], prefix: Path, http: int, https: int) -> Iterator[Nginx]:
    """nginx (``nginx -t`` first) with the shipped config in front of ``nodes``."""
    nginx = nginx_binary()
    (prefix / "www" / ".well-known" / "acme-challenge").mkdir(parents=True)
    cert, key = self_signed(prefix)
    (prefix / "voxgate.conf").write_text(
        copy([n.port for n in nodes], http, https, cert, key, prefix)
    )
    (prefix / "nginx.conf").write_text(_wrapper(prefix))
    command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    command += ["-e", str(prefix / "error.log"), "-g", f"daemon off; pid {prefix}/nginx.pid;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 20
        trusted = ssl.create_default_context(cafile=cert)
        while True:
            try:
                httpx.get(f"https://127.0.0.1:{https}/healthz", verify=trusted, timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (prefix / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield Nginx(
            https=f"https://127.0.0.1:{https}",
            http=f"http://127.0.0.1:{http}",
            nodes=nodes,
            cert=cert,
            access_log=prefix / "voxgate.access.log",
            webroot=prefix / "www",
        )
    finally:
        proc.terminate()
        proc.wait(10)
