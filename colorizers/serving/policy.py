"""Serving colorizers by name: what a server (the Gradio app, or any other) needs between a model
name a user typed and a loaded model.

* :class:`ModelPolicy` says which names a server may load: in private mode (a user's own machine)
  presets, local folders and any Hub id; in public mode (``colorizers.limits``) only the presets and
  an allow-list of Hub ids, every other name getting one and the same refusal that reveals nothing
  about the server (no file system access at all).
* :func:`check_model_name` refuses a name that cannot be a model before anything is loaded;
  :func:`parse_model_names` does that for a request's whole list.
* :func:`resolve_model` loads a preset, a local folder or a Hub id into a :class:`LoadedModel`, and
  says precisely why when it cannot (offline, not a colorizer, broken folder or weights, too large).
* :class:`ModelCache` keeps the most recently used models loaded, loading each one once.
* :class:`ModelResolver` is a server's one path from a request's model names to loaded models: the names
  checked against its policy first (nothing loaded for a refused one), then loaded through its cache.
* :class:`RequestFolders` gives each request its own folder for output files, expired after a while.
* :func:`guarded` runs request handlers under a ``Gate``, per client (:func:`request_client`, :func:`client_key`).

Every refusal is a :class:`RequestError` whose message is meant for the user as is.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from transformers import PreTrainedModel

from colorizers.image_processing_colorizer import ColorizerImageProcessor, nominal_edge
from colorizers.limits import Gate, LimitError, Limits, current_scope, shorten
from colorizers.model_io.checks import BrokenModelError, error_reason, local_path
from colorizers.model_io.loading import ModelLoadError, load_model, load_processor
from colorizers.registry import get_preset, list_models, preset_model_types

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name
logger = logging.getLogger(__name__)


class RequestError(ValueError):
    """A request a server must refuse; the message says why, in words meant for the user."""


@dataclass
class LoadedModel:
    """A model ready to serve, under the name the user gave it."""

    name: str
    model: PreTrainedModel
    processor: ColorizerImageProcessor
    untrained: bool  # random weights: no trained weights exist for it (yet)

    @classmethod
    def from_model(cls, name: str, model: PreTrainedModel) -> LoadedModel:
        """Wrap a model object (in eval mode) with the processor saved beside its weights."""
        model.eval()
        return cls(name, model, load_processor(model), bool(getattr(model, "colorizers_untrained", False)))

    @property
    def default_size(self) -> int:
        """The working resolution (longest edge, pixels) it colorizes at when none is asked for."""
        return nominal_edge(self.processor.size) or 256


@dataclass(frozen=True)
class ModelPolicy:
    """Which model names a server loads, and how large a model may be.

    Private (the default): presets, local folders and any Hub id. Public: presets and ``hub_allowlist``
    only; every other name, whatever it is, gets the same :meth:`refusal`.
    """

    public: bool = False
    hub_allowlist: tuple[str, ...] = ()
    max_parameters: int | None = None  # None: what the available memory holds
    max_weight_bytes: int | None = None  # a Hub repository's weights, checked before downloading
    max_name_chars: int = 256

    @classmethod
    def from_limits(cls, limits: Limits) -> ModelPolicy:
        return cls(
            limits.public,
            tuple(limits.hub_allowlist),
            limits.max_parameters,
            limits.max_weight_bytes,
            limits.max_name_chars,
        )

    def listed(self) -> list[str]:
        """The names public mode accepts: every preset, then the allowed Hub ids."""
        return list(dict.fromkeys([*list_models(), *self.hub_allowlist]))

    def refusal(self) -> RequestError:
        return RequestError(f"This server runs only the models it lists: {', '.join(self.listed())}.")


PRIVATE_POLICY = ModelPolicy()


def check_model_name(name: str, policy: ModelPolicy = PRIVATE_POLICY) -> None:
    """Raise :class:`RequestError` unless ``name`` is a preset, an existing path or a Hub id (owner/name)
    (in public mode: a preset or an allowed Hub id).

    Cheap (nothing is loaded), so a request naming several models is refused before any of them loads.
    """
    if policy.public:
        if name in list_models() or name in policy.hub_allowlist:
            return
        raise policy.refusal()
    if len(name) > policy.max_name_chars:
        raise RequestError(f"A model name has at most {policy.max_name_chars} characters; this one has {len(name):,}.")
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        raise RequestError("A model name cannot contain control characters (line breaks, tabs, NUL...).")
    if name in list_models() or HUB_ID.match(name) or local_path(name) is not None:
        return
    close = difflib.get_close_matches(name, list_models(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise RequestError(
        f"Unknown model {name!r}: it is not a preset, a local folder or a Hub id (owner/name).{hint} "
        f"Presets: {', '.join(list_models())}."
    )


def parse_model_names(
    models: str | Iterable[Any] | None, *, limit: int, policy: ModelPolicy = PRIVATE_POLICY
) -> list[str]:
    """The distinct model names of a request, in order; at least one, at most ``limit``, each plausible."""
    if models is None:
        models = []
    elif isinstance(models, str):
        models = [models]
    if not isinstance(models, Iterable) or isinstance(models, (bytes, dict)):
        raise RequestError("The models must be a list of names.")
    models = list(itertools.islice(models, 10 * limit + 1))
    if len(models) > 10 * limit:  # not worth reading
        raise RequestError(
            f"Pick at most {limit} models at once (got {len(models)}; limit models_per_request = {limit})."
        )
    names = list(dict.fromkeys(name for name in (str(item).strip() for item in models) if name))
    if not names:
        raise RequestError("Pick at least one model (a preset, a Hub id or a local folder).")
    if len(names) > limit:
        raise RequestError(
            f"Pick at most {limit} models at once (got {len(names)}; limit models_per_request = {limit})."
        )
    for name in names:
        check_model_name(name, policy)
    return names


_hub_probe: dict[str, Any] = {"at": -1e9, "ok": False}
_hub_probe_lock = threading.Lock()


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub answers a TCP connection (cached for a minute; False in offline mode)."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return False
    with _hub_probe_lock:
        if time.monotonic() - _hub_probe["at"] < 60:
            return _hub_probe["ok"]
        parsed = urlparse(constants.ENDPOINT)
        try:
            socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout).close()
            ok = True
        except OSError:
            ok = False
        _hub_probe.update(at=time.monotonic(), ok=ok)
        return ok


def resolve_model(name: str, policy: ModelPolicy = PRIVATE_POLICY) -> LoadedModel:
    """Load what a user typed: a preset, a local folder or a Hub id (the cache first, then the Hub).

    A preset without trained weights gets the same random weights on every call. Raises
    :class:`RequestError` for a name ``policy`` refuses, a folder or repository that does not load
    (broken config or weights, too large), a Hub id that is neither cached nor reachable, and a model
    that is no colorizer. In public mode a failing allowed model's message names no server path.
    """
    check_model_name(name, policy)
    limits = dict(max_parameters=policy.max_parameters, max_weight_bytes=policy.max_weight_bytes)
    try:
        if name in list_models():
            if get_preset(name).has_weights:
                return LoadedModel.from_model(name, load_model(name, **limits))
            with torch.random.fork_rng(devices=[]):  # seed a private copy of the RNG
                torch.manual_seed(0)
                return LoadedModel.from_model(name, load_model(name))
        path = None if policy.public else local_path(name)
        model = load_model(str(path), **limits) if path is not None else _load_from_hub(name, limits)
    except (ModelLoadError, RequestError) as error:
        if policy.public:  # an allowed model that fails: the reason (paths of this server) goes to the log only
            logger.warning("model %r failed to load: %s", name, shorten(error, 1000))
            raise RequestError(f"Model {name!r} cannot be loaded on this server right now.") from None
        if isinstance(error, RequestError):
            raise
        raise RequestError(f"Model {shorten(name)!r}: {error}") from None
    except Exception as error:  # noqa: BLE001 - never a traceback for a model that does not load
        logger.warning("model %r failed to load: %s", shorten(name), shorten(error_reason(error), 1000))
        raise RequestError(f"Model {shorten(name)!r} could not be loaded ({type(error).__name__}).") from None
    model_type = getattr(model.config, "model_type", "?")
    if model_type not in preset_model_types():
        raise RequestError(
            f"Model {shorten(name)!r} is a {shorten(model_type, 40)!r} model, not a colorizer this app can run."
        )
    return LoadedModel.from_model(name, model)


def _load_from_hub(name: str, limits: dict) -> PreTrainedModel:
    try:
        return load_model(name, local_files_only=True, **limits)
    except BrokenModelError:  # found in the cache, and broken (or too large): downloading again would not help
        raise
    except ModelLoadError:
        pass
    if not hub_reachable():
        raise RequestError(
            f"Model {name!r} is not available offline: it is not a preset or a local folder, it is not "
            "in this server's Hugging Face cache, and the Hub cannot be reached from here "
            "(offline mode or no network). Pick a preset instead."
        )
    try:
        return load_model(name, **limits)
    except ModelLoadError as error:
        raise RequestError(f"Model {name!r} could not be loaded from the Hugging Face Hub: {error}") from None


class ModelCache:
    """The ``capacity`` most recently used models, loaded by ``loader`` (a name -> LoadedModel function).

    Each model is loaded once even when requests race for it; a load that fails is not cached.
    """

    def __init__(self, capacity: int, loader: Callable[[str], LoadedModel] = resolve_model):
        self.capacity = max(1, capacity)
        self.loader = loader
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def get(self, name: str) -> LoadedModel:
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            key_lock = self._key_locks.setdefault(name, threading.Lock())
        with key_lock:
            with self._lock:
                if name in self._models:
                    self._models.move_to_end(name)
                    return self._models[name]
            try:
                loaded = self.loader(name)
            except BaseException:
                with self._lock:
                    self._key_locks.pop(name, None)
                raise
            with self._lock:  # publish the model and retire its lock in one step
                self._models[name] = loaded
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
                self._key_locks.pop(name, None)
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


@dataclass(frozen=True)
class ModelResolver:
    """A server's one path from what a request names to loaded models: the names are checked against
    ``policy`` (:func:`parse_model_names`; nothing is looked at or loaded for a refused one), then loaded
    through ``cache``. ``per_request`` is the most models one request may name (limit ``models_per_request``)."""

    policy: ModelPolicy
    cache: ModelCache
    per_request: int = 8

    @classmethod
    def from_limits(
        cls, limits: Limits, capacity: int = 4, loader: Callable[[str], LoadedModel] | None = None
    ) -> ModelResolver:
        """The resolver of a server under ``limits``: ``loader`` (default :func:`resolve_model` under the limits'
        policy) behind a cache of the ``capacity`` most recently used models."""
        policy = ModelPolicy.from_limits(limits)
        loader = loader or functools.partial(resolve_model, policy=policy)
        return cls(policy, ModelCache(capacity, loader), limits.models_per_request)

    def names(self, models: str | Iterable[Any] | None, limit: int | None = None) -> list[str]:
        """The request's distinct model names, each checked (at most ``limit``, default ``per_request``)."""
        return parse_model_names(models, limit=self.per_request if limit is None else limit, policy=self.policy)

    def one(self, model: Any, *, limit: int = 1, refusal: str = "Pick one model.") -> str:
        """The one model name of a request that takes one (``refusal`` when it names several, up to ``limit``)."""
        names = self.names(model, limit)
        if len(names) != 1:
            raise RequestError(refusal)
        return names[0]

    def load(self, name: str) -> LoadedModel:
        """The model a checked name stands for, loaded once and kept while it is among the recently used."""
        return self.cache.get(name)


def client_key(forwarded: str | None, peer: str | None, behind_proxy: bool) -> str | None:
    """The key a client's requests are counted under: the connection's address (``peer``), or behind the
    platform's proxy the **last** ``X-Forwarded-For`` entry (``forwarded``, all of the request's headers joined)."""
    # Each proxy appends the address its connection came from to X-Forwarded-For. The first entries are what
    # the client wrote itself (anything, a new value per request); the last is appended by the platform's proxy
    # (a Space's) from the TCP connection: the one address a client cannot choose. The peer is that proxy.
    if behind_proxy and forwarded:
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:100]
    return peer


def request_client() -> str | None:
    """Who sent the Gradio request being served (:func:`client_key`; behind a Space's proxy when ``SPACE_ID`` is
    set); None outside a request."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
        headers = request.headers
        getlist = getattr(headers, "getlist", None)
        values = getlist("x-forwarded-for") if callable(getlist) else [headers.get("x-forwarded-for") or ""]
        peer = getattr(getattr(request, "client", None), "host", None)
        return client_key(",".join(values), peer, behind_proxy=bool(os.environ.get("SPACE_ID")))
    except Exception:  # noqa: BLE001 - outside a request, or Gradio internals moved: no per-client rate limit
        return None


def guarded(gate: Gate, refuse: type[Exception], client: Callable[[], str | None] = request_client) -> Callable:
    """Decorator for a server's request handlers: each call runs inside ``gate.request(client())`` (rate per
    client, room for its pixels, a compute slot for its model work, its deadline, memory given back after a large one) and every refusal
    (``RequestError``, ``LimitError``, ``ModelLoadError``, running out of memory) becomes ``refuse(message)``.
    Anything else is a bug: logged with its traceback, the user gets a generic ``refuse``. Calls nested in
    a guarded call run in its scope. The decorator carries the gate (``.gate``) and its limits (``.limits``)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            try:
                if current_scope() is not None:
                    return fn(*args, **kwargs)
                with gate.request(client()):
                    return fn(*args, **kwargs)
            except refuse:
                raise
            except (RequestError, LimitError, ModelLoadError) as error:
                raise refuse(str(error)) from None
            except MemoryError:
                raise refuse(
                    "The server ran out of memory for this request: try a smaller image or working resolution."
                ) from None
            except RecursionError:  # json.loads of "[[[[...": refused, not a bug
                logger.warning("request refused in %s: nested too deeply", getattr(fn, "__name__", "a handler"))
                raise refuse("The request is nested too deeply to be read (lists or objects in each other).") from None
            except Exception:  # noqa: BLE001 - a bug: the log gets the traceback, the user a plain message
                logger.exception("request failed in %s", getattr(fn, "__name__", "a handler"))
                raise refuse("Something went wrong on the server with this request (it has been logged).") from None

        return handler

    decorate.gate, decorate.limits = gate, gate.limits
    return decorate


class RequestFolders:
    """One fresh folder per request under ``root``; folders older than ``ttl_s`` seconds are deleted."""

    def __init__(self, root: str | Path, ttl_s: float = 3600):
        self.root = Path(root)
        self.ttl_s = ttl_s

    def new(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self.root.iterdir():
            try:
                if now - old.stat().st_mtime > self.ttl_s:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        return folder


def safe_filename(name: str) -> str:
    """``name`` (a model name, a path, a Hub id) as one harmless file-name part."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "model"


__all__ = [
    "HUB_ID",
    "PRIVATE_POLICY",
    "LoadedModel",
    "ModelCache",
    "ModelPolicy",
    "ModelResolver",
    "RequestError",
    "RequestFolders",
    "check_model_name",
    "client_key",
    "guarded",
    "hub_reachable",
    "parse_model_names",
    "request_client",
    "resolve_model",
    "safe_filename",
]
