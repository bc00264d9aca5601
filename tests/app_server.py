"""app.py's demo served for a test: launched on a free local port, closed when the test is done."""

import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # app.py lives at the repository root

# How long a test waits for its server to answer at start-up. Gradio's own check (five HEAD requests, and
# False at the first one slower than 3 s) fails launch() on a loaded machine; this one waits longer.
STARTUP_SECONDS = float(os.environ.get("COLORIZERS_TEST_STARTUP_SECONDS", "180"))
REQUEST_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, within_s: float = STARTUP_SECONDS, request_s: float = REQUEST_SECONDS) -> bool:
    """Whether the server at ``url`` answers within ``within_s`` seconds: retried (each request may take up to
    ``request_s``) until it does, for Gradio's localhost check in launch()."""
    import httpx

    deadline = time.monotonic() + within_s
    while True:
        try:
            status = httpx.head(url, timeout=request_s, verify=False).status_code
            if status in (200, 401, 301, 302, 303, 307, 308):
                return True
        except httpx.TransportError:  # not listening yet, or too slow to answer: try again
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


@contextlib.contextmanager
def served(loader: Callable | None = None, limits=None) -> Iterator[str]:
    """Serve ``app.build_demo(loader, limits)`` (the environment's limits by default); yields its URL."""
    from gradio import networking

    import app

    limits = limits or app.LIMITS
    demo = app.build_demo(loader=loader, limits=limits)
    port = free_port()
    with mock.patch.object(networking, "url_ok", answers):  # launch()'s localhost check, patient on a slow machine
        demo.launch(
            prevent_thread_lock=True,
            server_name="127.0.0.1",
            server_port=port,
            quiet=True,
            **app.launch_kwargs(limits),
        )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
