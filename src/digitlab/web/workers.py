"""N worker processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's own `--workers` shares one socket among the workers, and whichever worker's
event loop wakes first accepts every connection waiting: 16 keep-alive connections
opened at once all went to one of two workers (400 of 400 requests in a measurement),
so a second worker added nothing for a client or load balancer that keeps its
connections. With a socket per worker the kernel spreads new connections over the
workers by their address and port. The parent only supervises: it restarts a worker
that dies and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import os
import signal
import socket
import time

from .access_log import log_config
from .metrics import MULTIPROC_ENV

log = logging.getLogger("digitlab.web")
BACKLOG = 2048  # uvicorn's default


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def _worker(host: str, port: int, log_format: str) -> None:  # runs in a spawned process
    import uvicorn

    sock = _listen(host, port)
    config = uvicorn.Config("digitlab.web.server:app_from_env", factory=True, log_config=log_config(log_format),
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(host: str, port: int, workers: int, log_format: str) -> None:
    """Run `workers` processes until SIGINT or SIGTERM; the app settings are already in
    the environment (server.py)."""
    logging.config.dictConfig(log_config(log_format))
    _listen(host, port).close()  # a port in use is one clear error here, not N dying workers
    spawn = multiprocessing.get_context("spawn")
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    def start():
        process = spawn.Process(target=_worker, args=(host, port, log_format), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    log.info("started %d workers: %s", workers, ", ".join(str(p.pid) for p in processes))
    while not stop:
        time.sleep(0.25)
        for i, process in enumerate(processes):
            if not process.is_alive() and not stop:
                log.error("worker %d exited with %s; starting another", process.pid, process.exitcode)
                if os.environ.get(MULTIPROC_ENV):
                    from prometheus_client import multiprocess

                    multiprocess.mark_process_dead(process.pid)
                processes[i] = start()
    time.sleep(0.5)  # a Ctrl-C reached the workers too; let them finish on their own first
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join()
    log.info("all workers stopped")
