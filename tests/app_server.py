"""app.py's demo served for a test: launched on a free local port, closed when the test is done."""

import contextlib
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # app.py lives at the repository root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(loader: Callable | None = None, limits=None) -> Iterator[str]:
    """Serve ``app.build_demo(loader, limits)`` (the environment's limits by default); yields its URL."""
    import app

    limits = limits or app.LIMITS
    demo = app.build_demo(loader=loader, limits=limits)
    port = free_port()
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_kwargs(limits)
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
