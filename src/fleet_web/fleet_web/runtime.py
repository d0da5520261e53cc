"""Run rclpy nodes and an aiohttp app in one process, and stop both cleanly.

aiohttp owns the main thread's event loop; the rclpy executor spins in a background thread.
SIGINT and SIGTERM are handled by the loop (rclpy's own handlers are not installed), so
Ctrl-C and ``kill`` take the same path: stop serving HTTP, stop the executor, destroy the
nodes, shut rclpy down.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
import rclpy
from rclpy.signals import SignalHandlerOptions

from fleet_common.launcher import stop_with_launcher


def init_ros(args: list[str] | None = None) -> None:
    """rclpy.init without rclpy's signal handlers (the asyncio loop handles signals)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM, and on the exit of the ``ros2 launch`` that
    started this process (:mod:`fleet_common.launcher`)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stop_with_launcher()


class ClientErrorFilter(logging.Filter):
    """Log a malformed HTTP request (aiohttp's parser refuses it with a 400 before the app
    sees it: a NUL or a control character in a header, a bad request line) as one warning
    line, not as an error with a traceback: it is the client's mistake, not the bridge's."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip the traceback of client-side protocol errors; keep every record."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            detail = ' '.join(str(exc.message).split())[:200]
            record.msg = f'{record.getMessage()}: {exc.code} {detail}'
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, 'WARNING'
        return True


def quiet_client_errors() -> None:
    """Install :class:`ClientErrorFilter` on aiohttp's server logger (once)."""
    logger = logging.getLogger('aiohttp.server')
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())


def make_runner(app: web.Application) -> web.AppRunner:
    """Return the app's runner: no access log, and a connection that sits without a complete
    request for ``idle_timeout_s`` (the app's WebConfig) is closed, so idle and slowly
    dribbled (slowloris) connections do not pile up. Bodies have their own limit
    (``body_timeout_s``, see :func:`fleet_web.validate.read_body`)."""
    from fleet_web.appkeys import CONFIG
    quiet_client_errors()
    return web.AppRunner(app, handle_signals=False, access_log=None,
                         keepalive_timeout=app[CONFIG].idle_timeout_s)


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event,
                on_started: Callable[[], None] | None = None) -> None:
    """Serve ``app`` on host:port until ``stop`` is set, then shut the server down."""
    runner = make_runner(app)
    await runner.setup()
    try:
        # Open requests get a few seconds to finish; SSE streams are cancelled on shutdown.
        site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
        await site.start()
        if on_started is not None:
            on_started()
        await stop.wait()
    finally:
        await runner.cleanup()
