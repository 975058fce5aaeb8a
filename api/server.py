"""Run the app under uvicorn in one or several processes sharing one listening socket.

With ``workers > 1`` the parent binds the socket, builds nothing more, and forks
the workers after the app (and its road graph) exists, so they share the graph's
memory copy-on-write. Each worker refreshes its own live weights; the ETag is a
digest of the weights, so workers with the same data answer with the same ETag.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI


def run(
    app: FastAPI, host: str, port: int, *, workers: int = 1, log_level: str = "warning"
) -> None:
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on"
    )
    # the graph and the inventory are long-lived: keep the cyclic GC from rescanning
    # them on every full collection (pauses of tens of ms), and share them after fork
    gc.collect()
    gc.freeze()
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # worker: its own SO_REUSEPORT socket, so the kernel spreads
            code = 0  # connections evenly over the workers
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((host, port))
                sock.listen(2048)
                uvicorn.Server(config).run(sockets=[sock])
            except BaseException:  # noqa: B036 - a worker must never return into the parent's code
                code = 1
            os._exit(code)
        children.append(pid)

    def stop(signum: int, frame: FrameType | None) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)
