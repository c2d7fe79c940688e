"""What load_check.py and soak.py share: start `digitlab serve` on 127.0.0.1, drive it
with a light HTTP client, and read the server's memory.

The client is plain asyncio over keep-alive connections with the requests encoded
once in advance, so that on a 2-core machine it costs the server little CPU (a few
tens of microseconds a request); an HTTP library would spend a good share of a core
on the client side and understate what several workers gain.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.unlink(self.log_path)

    def pids(self) -> list[int]:
        return _process_tree(self.process.pid)

    def rss_mb(self) -> float:
        """Resident memory of the server and all its processes (workers), in MB."""
        return sum(_rss_kb(pid) for pid in self.pids()) / 1024


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) spent so far by these processes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in os.listdir(f"/proc/{pids[i]}/task"):
                with open(f"/proc/{pids[i]}/task/{task}/children") as f:
                    pids.extend(int(p) for p in f.read().split())
        except OSError:
            pass
        i += 1
    return pids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_server(model: str, workers: int = 1, extra: tuple[str, ...] = (), wait_s: float = 180) -> Server:
    """`digitlab serve` on a free loopback port, returned once every worker is ready
    (each logs "model ready in" when it starts taking connections)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="digitlab-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--model", model, "--port", str(port),
                                "--workers", str(workers), *extra], stdout=subprocess.DEVNULL, stderr=log)
    server = Server(process, port, log.name)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped:\n{open(log.name).read()}")
        if open(log.name).read().count("model ready in") >= workers:
            try:
                with urllib.request.urlopen(server.base + "/api/ready", timeout=5) as r:
                    if r.status == 200:
                        return server
            except (OSError, urllib.error.HTTPError):
                pass
        time.sleep(0.2)
    text = open(log.name).read()
    server.stop()
    raise SystemExit(f"the server was not ready within {wait_s:.0f} s:\n{text}")


def http_request(path: str, body: bytes, content_type: str | None) -> bytes:
    """One HTTP/1.1 POST, encoded once and sent as often as needed."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode() + body


@dataclass
class Result:
    index: int
    status: int  # 0: no answer (connection failed or timed out)
    seconds: float
    body: bytes = b""


@dataclass
class Load:
    results: list[Result] = field(default_factory=list)
    wall: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return status, body, headers.get("connection") == "close"


async def _drive(port: int, requests: list[bytes], concurrency: int, timeout: float,
                 on_result=None) -> Load:
    load, next_index = Load(), iter(range(len(requests)))

    async def connection():
        reader = writer = None
        for i in next_index:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[i])
                await writer.drain()
                status, body, close = await asyncio.wait_for(_read_response(reader), timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                status, body, close = 0, b"", True
            result = Result(i, status, time.perf_counter() - started, body)
            load.results.append(result)
            if on_result is not None:
                on_result(result)
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    load.wall = time.perf_counter() - started
    return load


def drive(port: int, requests: list[bytes], concurrency: int = 16, timeout: float = 60, on_result=None) -> Load:
    """Send every request once, from `concurrency` keep-alive connections; each result
    (status, seconds) in completion order. `on_result` is called after each."""
    return asyncio.run(_drive(port, requests, concurrency, timeout, on_result))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
