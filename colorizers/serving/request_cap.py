"""A cap on the size of a request's body, in front of the app (an ASGI middleware).

Written here because neither gradio nor Starlette has one: gradio caps uploaded files (``max_file_size``) but
reads any JSON body whole, and a malformed one ends in a traceback that prints the request into the server log
(1 MB in, 1 MB of log out). The cap answers 413 before gradio sees the body, from ``Content-Length`` when the
client sends it and by counting bytes when it streams the body instead (the body, at most the cap, is read
here and handed on). File uploads (paths ending in
``/upload``) are left to ``max_file_size``.
"""

from __future__ import annotations

import json

# Far above what the app's JSON requests carry (a model list, a file reference, up to ~4,000 colour hints).
MAX_REQUEST_BYTES = 256 * 1024


class RequestSizeCap:
    """Refuses HTTP request bodies over ``max_bytes`` with 413 and a one-line JSON ``detail``."""

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES, exempt_suffixes: tuple[str, ...] = ("/upload",)):
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_suffixes = exempt_suffixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith(self.exempt_suffixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        # Read the body here (at most max_bytes of it), then hand it to the app: a streamed body over the cap is
        # refused with the same 413, not with whatever the app makes of a body cut short.
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for a disconnect, as the server would

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        detail = f"The request is too large: at most {self.max_bytes // 1024} kB (files are sent as uploads)."
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


__all__ = ["MAX_REQUEST_BYTES", "RequestSizeCap"]
