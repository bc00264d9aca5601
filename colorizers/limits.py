"""Resource limits in one place, and public mode.

A server open to anyone (a Hugging Face Space) runs in **public mode**: tighter limits, and only its
listed models (``colorizers.serving.policy.ModelPolicy``). Public mode is on when ``COLORIZERS_PUBLIC`` is
``1`` (``0`` turns it off), else whenever ``SPACE_ID`` is set (a Space). Every limit below has a private
and a public default and an environment variable that overrides either; :func:`current` reads them.

* :class:`Limits`: the values (upload size, megapixels, working resolution, models per request,
  per-request time, video length and frame size, queue size, concurrency, megapixels in flight, requests
  per minute and client, model size, Hub download size, the Hub ids public mode allows);
* :class:`LimitError`: a refusal that names its limit and value (``limit``, ``value``);
* :class:`Gate`: one server's admission: per-client request rate, megapixels in flight, ``concurrency``
  compute slots, and a :class:`RequestScope` per request holding its deadline. Library code calls
  :func:`admit_pixels` (before decoding: room for an image's pixels, read from its header), :func:`compute` (around
  model work: a compute slot) and :func:`check_deadline`, which do nothing outside a request. The app lets
  ``admitted_requests`` requests in at once; they wait in the gate, not in its workers, so a small photo is
  never stuck behind large ones (a slice of the pixel budget and, with two slots or more, one compute slot are
  kept for small requests). Memory is bounded by the pixel budget, whatever a file's bytes: the image reader's
  check that a JPEG has enough bytes for its declared size (``colorizers.image_io``) stays as a cheap, early
  "truncated" refusal (a short file would otherwise decode to gray rows), not as a bound: padding a file
  gets it past that check but only to be admitted like any honest image of its size;
* :func:`release_memory` hands freed memory back to the system; :func:`shorten` cuts user strings
  before they reach a log or a message.

The video tab reads its limits here too (``video_seconds``, ``video_side``; a video request also runs under
``request_seconds`` and waits for room in ``inflight_megapixels``). The app's older variables
``COLORIZERS_APP_MAX_VIDEO_SECONDS`` and ``COLORIZERS_APP_MAX_VIDEO_SIDE`` feed these two limits when
``COLORIZERS_MAX_VIDEO_SECONDS`` / ``COLORIZERS_MAX_VIDEO_SIDE`` are not set (:data:`LEGACY_ENVIRONMENT`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import gc
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace

PUBLIC_ENV = "COLORIZERS_PUBLIC"


class LimitError(ValueError):
    """A request over one of the limits; ``limit`` names it (a :class:`Limits` field) and ``value`` is its value."""

    def __init__(self, message: str, *, limit: str, value: object):
        super().__init__(message)
        self.limit = limit
        self.value = value


@dataclass(frozen=True)
class Limits:
    """Every resource limit of the library, the CLI and the app (private defaults; see :data:`PUBLIC`)."""

    public: bool = False
    upload_mb: float = 200.0  # one uploaded file
    max_megapixels: float = 64.0  # one image (the CLI has its own --max-pixels)
    min_working_size: int = 32  # working resolution: longest edge colour is predicted at, pixels
    max_working_size: int = 2048  # the library and the CLI too (a forward pass at 4096 px needs tens of GB)
    models_per_request: int = 8
    request_seconds: float = 600.0  # waiting for room and working, per request
    video_seconds: float = 600.0  # length of one video (the video tab): a longer one is refused
    video_side: int = 1920  # a video frame's longer side, pixels (the video tab)
    queue_size: int = 64  # requests waiting in the app's queue to be let in (admitted_requests are)
    concurrency: int = 2  # compute slots: model work of this many requests at once (Gate)
    inflight_megapixels: float = 128.0  # megapixels reserved (from the headers), decoded and worked on at once
    requests_per_minute: int = 0  # per client; 0 = unlimited
    max_parameters: int | None = None  # None: what the machine's available memory holds
    max_weight_mb: float | None = None  # a Hub repository's weights, checked before downloading; None: no limit
    hub_allowlist: tuple[str, ...] = ()  # Hub ids public mode may load (besides the presets)
    max_name_chars: int = 256  # a model name
    log_chars: int = 200  # user strings in logs

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @property
    def upload_bytes(self) -> int:
        return int(self.upload_mb * 1_000_000)

    @property
    def admitted_requests(self) -> int:
        """Requests let in at once (the app's Gradio concurrency limit): inside, a request waits in the
        :class:`Gate` for room for its pixels and then for one of the ``concurrency`` compute slots, holding only
        a thread meanwhile (its pixels are reserved from the header, before decoding), so that a small request
        behind big ones is let in and served (:data:`ADMITTED_PER_SLOT` per slot)."""
        return ADMITTED_PER_SLOT * max(1, self.concurrency)

    @property
    def max_weight_bytes(self) -> int | None:
        return None if self.max_weight_mb is None else int(self.max_weight_mb * 1_000_000)


ADMITTED_PER_SLOT = 8  # Limits.admitted_requests: requests let in per compute slot
PRIVATE = Limits()
# What public mode changes (a Space, an exposed server); everything else keeps the private default.
PUBLIC_VALUES = {
    "public": True,
    "upload_mb": 50.0,
    "max_megapixels": 40.0,
    "max_working_size": 1024,
    "models_per_request": 4,
    "request_seconds": 120.0,
    "video_seconds": 30.0,
    "queue_size": 32,
    "concurrency": 3,
    "inflight_megapixels": 48.0,
    "requests_per_minute": 60,
    "max_parameters": 100_000_000,
    "max_weight_mb": 500.0,
}
PUBLIC = Limits(**PUBLIC_VALUES)
# Environment variables overriding each default (both modes); hub_allowlist is comma-separated.
ENVIRONMENT = {
    "upload_mb": "COLORIZERS_MAX_UPLOAD_MB",
    "max_megapixels": "COLORIZERS_MAX_MEGAPIXELS",
    "max_working_size": "COLORIZERS_MAX_WORKING_SIZE",
    "models_per_request": "COLORIZERS_MAX_MODELS_PER_REQUEST",
    "request_seconds": "COLORIZERS_REQUEST_SECONDS",
    "video_seconds": "COLORIZERS_MAX_VIDEO_SECONDS",
    "video_side": "COLORIZERS_MAX_VIDEO_SIDE",
    "queue_size": "COLORIZERS_APP_QUEUE",
    "concurrency": "COLORIZERS_APP_CONCURRENCY",
    "inflight_megapixels": "COLORIZERS_INFLIGHT_MEGAPIXELS",
    "requests_per_minute": "COLORIZERS_REQUESTS_PER_MINUTE",
    "max_parameters": "COLORIZERS_MAX_PARAMETERS",
    "max_weight_mb": "COLORIZERS_MAX_WEIGHT_MB",
    "hub_allowlist": "COLORIZERS_HUB_ALLOWLIST",
}
# Older names (the video tab's own, before it obeyed Limits), read only when the variable above is not set.
LEGACY_ENVIRONMENT = {
    "video_seconds": "COLORIZERS_APP_MAX_VIDEO_SECONDS",
    "video_side": "COLORIZERS_APP_MAX_VIDEO_SIDE",
}


def public_mode(flag: bool | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """``flag`` if given; else ``COLORIZERS_PUBLIC`` (1/0, true/false, yes/no, on/off); else whether ``SPACE_ID`` is set."""
    if flag is not None:
        return bool(flag)
    value = environ.get(PUBLIC_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return bool(environ.get("SPACE_ID"))


def current(public: bool | None = None, environ: Mapping[str, str] = os.environ) -> Limits:
    """The limits in force: the mode's defaults, then the environment's overrides.

    Raises ``ValueError`` naming the variable when one is not a valid value.
    """
    base = PUBLIC if public_mode(public, environ) else PRIVATE
    changes = {}
    types = {item.name: item.type for item in fields(Limits)}
    for name, variable in ENVIRONMENT.items():
        raw = environ.get(variable, "").strip()
        if not raw and name in LEGACY_ENVIRONMENT:
            variable = LEGACY_ENVIRONMENT[name]
            raw = environ.get(variable, "").strip()
        if not raw:
            continue
        if name == "hub_allowlist":
            changes[name] = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
            continue
        whole = "int" in str(types[name])
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a number, got {shorten(raw, 40)!r}") from None
        if not math.isfinite(number) or number < 0 or (whole and number != int(number)):
            raise ValueError(
                f"{variable} must be a finite {'whole ' if whole else ''}number >= 0, got {shorten(raw, 40)}"
            )
        changes[name] = int(number) if whole else number
    return replace(base, **changes)


def shorten(text: object, limit: int = PRIVATE.log_chars) -> str:
    """``text`` as a string of at most about ``limit`` characters (longer ones say how long they were)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


# Per request: the scope of the request running in this thread, if any ------------------------------

_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar("colorizers_request_scope", default=None)
BIG_REQUEST_PIXELS = 8_000_000  # after a request this large, freed memory goes back to the system
SMALL_REQUEST_PIXELS = 1_000_000  # a request of at most this many pixels, all its images together, is small
ROOM_REFUSAL = (
    "The server is busy with other large images and this one waited past the time limit of {seconds:g} s per "
    "request. Try again in a moment."
)
TURN_REFUSAL = (
    "The server is busy with other requests and this one waited past the time limit of {seconds:g} s per request "
    "for its turn. Try again in a moment."
)


class Gate:
    """One server's admission control: requests per minute and client, megapixels in flight, compute slots and
    time per request.

    A request is let in (:meth:`request`) holding nothing. Before decoding an image it reserves the image's pixels,
    read from the header (:func:`admit_pixels`: it waits for room in ``inflight_megapixels``); each piece of model
    work then takes one of ``concurrency`` compute slots (:func:`compute`), and everything is given back when the
    request ends. Memory is thus bounded by the pixel budget whatever the files' bytes, and a request waiting for
    room never holds a compute slot (one that must wait for more room gives its slot back while it waits).

    A small request (at most :data:`SMALL_REQUEST_PIXELS` pixels in all) is never stuck behind big ones: a slice of
    the budget (:attr:`reserve`: a megapixel per compute slot, at most a quarter of the budget) is for small requests
    only, and with two compute slots or more big requests hold all but one of them (:attr:`big_slots`). Big requests
    share the rest of the budget; one larger than all of it runs alone there rather than never (beside the
    reserve), so what is in flight is at most the budget, or that one request and the reserve. A request waiting
    past its deadline is refused (``LimitError``, limit ``request_seconds``).
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.capacity = int(limits.inflight_megapixels * 1_000_000)
        self.slots = max(1, limits.concurrency)
        self.big_slots = max(1, self.slots - 1)
        # whole small requests, at most a quarter of the budget (none in a budget under 4 MP)
        self.reserve = min(self.slots, self.capacity // (4 * SMALL_REQUEST_PIXELS)) * SMALL_REQUEST_PIXELS
        self._room = threading.Condition()  # guards the counts below; notified whenever pixels or a slot are freed
        self._shared = 0  # pixels in flight in the budget less the reserve
        self._reserved = 0  # pixels in flight in the reserve (small requests)
        self._busy = 0  # compute slots held
        self._busy_big = 0  # ... by big requests
        self._waiting = 0  # requests waiting for room or a slot
        self._recent: dict[str, deque[float]] = {}
        self._rate_lock = threading.Lock()

    @property
    def inflight_pixels(self) -> int:
        return self._shared + self._reserved

    @property
    def busy_slots(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        """Requests waiting for room for their pixels or for a compute slot."""
        return self._waiting

    def check_rate(self, client: str | None) -> None:
        """Refuse a client's request beyond ``requests_per_minute`` in the last minute."""
        allowed = self.limits.requests_per_minute
        if not allowed or not client:
            return
        now = time.monotonic()
        with self._rate_lock:
            recent = self._recent.setdefault(client, deque())
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
            if len(recent) >= allowed:
                wait = max(1, math.ceil(60.0 - (now - recent[0])))
                raise LimitError(
                    f"Too many requests: the limit is {allowed} per minute per client. Try again in {wait} s.",
                    limit="requests_per_minute",
                    value=allowed,
                )
            recent.append(now)
            if len(self._recent) > 10_000:  # forget idle clients
                for key in [key for key, times in self._recent.items() if not times or now - times[-1] >= 60.0]:
                    del self._recent[key]

    @contextlib.contextmanager
    def request(self, client: str | None = None) -> Iterator[RequestScope]:
        """The scope of one request: rate-checked on entry; its room, its slot and memory given back on exit."""
        self.check_rate(client)
        scope = RequestScope(self, time.monotonic() + self.limits.request_seconds)
        token = _scope.set(scope)
        try:
            yield scope
        finally:
            _scope.reset(token)
            scope.close()

    # Pixels and slots: called by RequestScope, always under self._room ------------------------------------

    def _wait(self, scope: RequestScope, refusal: str) -> None:
        """Wait for pixels or a slot to be freed; past the scope's deadline, ``refusal`` (a LimitError)."""
        left = scope.deadline - time.monotonic()
        if left <= 0:
            seconds = self.limits.request_seconds
            raise LimitError(refusal.format(seconds=seconds), limit="request_seconds", value=seconds)
        self._waiting += 1
        try:
            self._room.wait(min(left, 1.0))
        finally:
            self._waiting -= 1

    def _fits(self, pixels: int, small: bool) -> bool | None:
        """Where ``pixels`` more fit now: True in the reserve (small requests first go there), False in the rest of
        the budget (an image larger than all of it runs alone rather than never), None nowhere yet."""
        if small and self._reserved + pixels <= self.reserve:
            return True
        if not self._shared or self._shared + pixels <= self.capacity - self.reserve:
            return False
        return None

    def _take(self, scope: RequestScope, pixels: int) -> None:
        with self._room:
            kind = scope.slot
            while (reserved := self._fits(pixels, scope.pixels + pixels <= SMALL_REQUEST_PIXELS)) is None:
                self._free_slot(scope)  # never wait for room holding a slot: the slot is taken again after
                self._wait(scope, ROOM_REFUSAL)
            if reserved:
                self._reserved += pixels
                scope.reserved += pixels
            else:
                self._shared += pixels
            scope.pixels += pixels
            if kind is not None and scope.slot is None:
                self._hold_slot(scope, big=kind == "big")

    def _give(self, scope: RequestScope) -> None:
        with self._room:
            self._shared -= scope.pixels - scope.reserved
            self._reserved -= scope.reserved
            scope.pixels = scope.reserved = 0
            self._free_slot(scope)
            self._room.notify_all()

    def _hold_slot(self, scope: RequestScope, big: bool) -> None:
        big = big or scope.pixels > SMALL_REQUEST_PIXELS
        with self._room:
            while self._busy >= self.slots or (big and self._busy_big >= self.big_slots):
                self._wait(scope, TURN_REFUSAL)
            self._busy += 1
            self._busy_big += big
            scope.slot = "big" if big else "small"

    def _free_slot(self, scope: RequestScope) -> None:
        with self._room:
            if scope.slot is None:
                return
            self._busy -= 1
            self._busy_big -= scope.slot == "big"
            scope.slot = None
            self._room.notify_all()


class RequestScope:
    """One request: its deadline, the pixels it was admitted with and the compute slot it holds, if any."""

    def __init__(self, gate: Gate, deadline: float):
        self.gate = gate
        self.deadline = deadline
        self.pixels = 0  # admitted and not yet given back
        self.reserved = 0  # of those, in the small requests' reserve
        self.largest = 0
        self.slot: str | None = None  # "small" or "big" while it holds a compute slot
        self._depth = 0  # compute() sections it is in

    def admit(self, pixels: int) -> None:
        """Wait for room for ``pixels`` more (LimitError past the deadline)."""
        self.check_deadline()
        self.gate._take(self, int(pixels))
        self.largest = max(self.largest, int(pixels))

    @contextlib.contextmanager
    def compute(self, big: bool = False) -> Iterator[None]:
        """Inside: model work, holding one of the gate's compute slots (LimitError past the deadline while
        waiting for one). Nested sections share the slot. ``big``: counted as a big request whatever its pixels
        (a video: many frames, for many seconds), so it never takes the slot kept for small ones."""
        outer = self._depth == 0
        if outer:
            self.check_deadline()
            self.gate._hold_slot(self, big)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if outer:
                self.gate._free_slot(self)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            seconds = self.gate.limits.request_seconds
            raise LimitError(
                f"This request ran past the time limit of {seconds:g} s per request and was stopped.",
                limit="request_seconds",
                value=seconds,
            )

    def close(self) -> None:
        self.gate._give(self)
        if self.largest >= BIG_REQUEST_PIXELS:
            release_memory()


def current_scope() -> RequestScope | None:
    return _scope.get()


def admit_pixels(pixels: int) -> None:
    """Inside a request: wait for room for ``pixels`` more (LimitError past its deadline); elsewhere nothing."""
    scope = _scope.get()
    if scope is not None:
        scope.admit(pixels)


def compute(big: bool = False) -> contextlib.AbstractContextManager[None]:
    """Inside a request: model work, holding one of the gate's ``concurrency`` compute slots for its duration
    (:meth:`RequestScope.compute`); elsewhere nothing. Take the request's pixels first (:func:`admit_pixels`)."""
    scope = _scope.get()
    return contextlib.nullcontext() if scope is None else scope.compute(big)


def check_deadline() -> None:
    """Inside a request: LimitError once it has run past its time limit; elsewhere nothing."""
    scope = _scope.get()
    if scope is not None:
        scope.check_deadline()


_libc: list = []


def release_memory() -> None:
    """Collect garbage and hand the allocator's free memory back to the system (glibc ``malloc_trim``)."""
    gc.collect()
    if not _libc:
        try:
            _libc.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _libc.append(None)
    if _libc[0] is not None:
        _libc[0](0)


def limit_allocator_arenas(count: int = 2) -> bool:
    """Ask glibc to keep at most ``count`` malloc arenas (``M_ARENA_MAX``) for a server's many threads: fewer
    arenas hold less idle memory, and :func:`release_memory` then returns more. False where not glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, int(count)))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def available_memory_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable``; cgroup limits counted), or None when unknown."""
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = open(limit_file).read().strip()
            if limit.isdigit() and int(limit) < 1 << 60:
                left = int(limit) - int(open(usage_file).read().strip())
                available = left if available is None else min(available, left)
            break
        except (OSError, ValueError):
            continue
    return available


__all__ = [
    "ADMITTED_PER_SLOT",
    "ENVIRONMENT",
    "LEGACY_ENVIRONMENT",
    "PRIVATE",
    "PUBLIC",
    "PUBLIC_ENV",
    "SMALL_REQUEST_PIXELS",
    "Gate",
    "LimitError",
    "Limits",
    "RequestScope",
    "admit_pixels",
    "available_memory_bytes",
    "check_deadline",
    "compute",
    "current",
    "current_scope",
    "limit_allocator_arenas",
    "public_mode",
    "release_memory",
    "shorten",
]
