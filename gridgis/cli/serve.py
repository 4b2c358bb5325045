"""`gridgis serve`: the HTTP API, one process or several on one SO_REUSEPORT socket."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from gridgis.cli.common import console, fail, prepare_database
from gridgis.errors import GridgisError
from gridgis.settings import get_settings


def _reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket other processes may bind too (the kernel spreads connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on connections whose socket says so.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _serve_worker(host: str, port: int) -> None:
    """One API process on a shared SO_REUSEPORT socket.

    Each worker owns a TCP socket asyncio recognises, so every connection gets TCP_NODELAY;
    with uvicorn's own multi-worker mode, responses larger than one segment waited ~40 ms
    on Nagle's algorithm (measured in docs/PERFORMANCE.md)."""
    import uvicorn

    from api.main import create_app

    config = uvicorn.Config(create_app(), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[_reuseport_socket(host, port)])


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import multiprocessing
    import signal

    import uvicorn

    settings = get_settings()
    try:
        url = prepare_database(settings)
    except GridgisError as exc:
        raise fail(exc.message) from exc
    # The API processes read the same URL without starting anything themselves.
    os.environ.setdefault("GRIDGIS_DATABASE_URL", url)
    console.print(f"gridgis API on http://{host}:{port} (docs at /docs), {workers} worker(s)")
    if workers == 1:
        uvicorn.run("api.main:create_app", factory=True, host=host, port=port, access_log=False)
        return
    try:  # fail early and clearly when the port is taken
        _reuseport_socket(host, port).close()
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_serve_worker, args=(host, port), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(signum: int, frame: object) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()
