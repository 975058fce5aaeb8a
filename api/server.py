"""Run the app under uvicorn in one or several processes sharing one listening socket.

With ``workers > 1`` the parent binds the socket, builds nothing more, and forks
the workers after the app (and its road graph) exists, so they share the graph's
memory copy-on-write. Each worker refreshes its own live weights; the ETag is a
digest of the weights, so workers with the same data answer with the same ETag.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI


def run(
    app: FastAPI, host: str, port: int, *, workers: int = 1, log_level: str = "warning"
) -> None:
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on"
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    sock = config.bind_socket()
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
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
    sock.close()
