"""What the app's tabs serve with, made once per app and handed to each tab: :class:`ServerContext`.

One server has one set of limits (``colorizers.limits.Limits``, public mode among them), one model resolver
(its policy and its cache: every tab turns model names into models through it), one gate (rate per client,
megapixels in flight, compute slots, time per request) and the handler guard over it, one place for the files of
each request, one cache of guided photos, and the queue settings its inference endpoints share. ``app.build_demo`` makes it
with :meth:`ServerContext.create`; ``build_compare_tab``, ``build_guide_tab`` and ``build_video_tab`` take it.

:class:`UserError` is how a refusal reaches the user (a ``gr.Error``, logged in one line); uploads are read only
from Gradio's upload folder (:func:`upload_file`, :func:`read_payload`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from colorizers.limits import PRIVATE, Gate, Limits, shorten
from colorizers.serving import policy as serving
from colorizers.serving.comparison import Upload, read_upload
from colorizers.serving.guided import GuidedPhotos
from colorizers.serving.policy import LoadedModel, ModelPolicy, ModelResolver, RequestFolders

logger = logging.getLogger("colorizers.app")


class UserError(gr.Error):
    """A ``gr.Error`` for bad input: shown to the user, logged in one line (user strings cut short), no traceback."""

    def __init__(self, message: str):
        super().__init__(shorten(message, 2000), duration=20, print_exception=False)
        logger.warning("request refused: %s", shorten(message, PRIVATE.log_chars))


def upload_file(payload: Any, what: str = "image", limits: Limits = PRIVATE) -> tuple[Path, str | None]:
    """The file of an upload (a Gradio file payload) and the name it was uploaded under, checked without reading
    it: only files uploaded to Gradio, at most ``upload_mb``; a request naming any other path is refused."""
    if not isinstance(payload, dict):
        raise UserError(f"Expected an image file, got {type(payload).__name__}.")
    if not isinstance(payload.get("path"), str) or not payload["path"] or "\x00" in payload["path"]:
        raise UserError("The upload carries no file (try uploading it again).")
    path = Path(payload["path"]).resolve()
    if not path.is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise UserError(f"The {what} must be a file uploaded to this app (gradio_client: handle_file(path)).")
    if path.is_file() and path.stat().st_size > limits.upload_bytes:
        raise UserError(
            f"The {what} is {path.stat().st_size / 1e6:.1f} MB, above the limit of {limits.upload_mb:g} MB (upload_mb)."
        )
    return path, payload.get("orig_name") if isinstance(payload.get("orig_name"), str) else None


def read_payload(payload: Any, what: str = "image", limits: Limits = PRIVATE) -> Upload:
    """Decode an uploaded file (:func:`upload_file`'s checks first, then ``max_megapixels``)."""
    path, name = upload_file(payload, what, limits)
    return read_upload(path, name, what=what, max_pixels=limits.max_pixels)


def file_key(path: Path) -> tuple[str, int, int] | None:
    """What identifies an uploaded file's content for the caches: its path, size and modification time."""
    try:
        status = path.stat()
    except OSError:
        return None
    return str(path), status.st_size, status.st_mtime_ns


@dataclass(frozen=True)
class ServerContext:
    """One server's limits, model resolver, gate and handler guard, request folders and caches."""

    limits: Limits
    models: ModelResolver  # the policy and the model cache: the one path from a name to a model
    gate: Gate  # rate per client, megapixels in flight, compute slots, deadline per request
    guard: Callable[[Callable], Callable]  # serving.guarded(gate, UserError): every handler of every tab
    outputs: RequestFolders  # one folder of result files per request
    photos: GuidedPhotos  # photos being guided, decoded once per upload (the Guide tab)
    cache_root: Path  # outputs and examples live under it (launch()'s allowed_paths)

    @classmethod
    def create(
        cls,
        limits: Limits,
        cache_root: Path,
        *,
        loader: Callable[[str], LoadedModel] | None = None,
        max_models: int = 4,
        output_ttl_s: float = 3600.0,
    ) -> ServerContext:
        """The context of a server under ``limits``. ``loader`` turns a model name into a ``LoadedModel``
        (default: ``resolve_model`` under the limits' policy); the last ``max_models`` loaded are kept."""
        gate = Gate(limits)
        return cls(
            limits=limits,
            models=ModelResolver.from_limits(limits, max_models, loader),
            gate=gate,
            guard=serving.guarded(gate, UserError),
            outputs=RequestFolders(Path(cache_root) / "outputs", ttl_s=output_ttl_s),
            photos=GuidedPhotos(),
            cache_root=Path(cache_root),
        )

    @property
    def policy(self) -> ModelPolicy:
        return self.models.policy

    @property
    def inference(self) -> dict[str, Any]:
        """Queue settings of the inference endpoints: one pool they all share, letting ``admitted_requests`` in at
        once. The model work inside is bounded by the gate's ``concurrency`` compute slots, not by Gradio: a request
        waiting for room for its pixels or for a slot waits in the gate, and holds no slot meanwhile."""
        return dict(concurrency_limit=self.limits.admitted_requests, concurrency_id="inference")

    def upload_file(self, payload: Any, what: str = "image") -> tuple[Path, str | None]:
        return upload_file(payload, what, self.limits)

    def decode(self, path: Path, name: str | None = None, what: str = "image") -> Upload:
        """Decode a checked upload (:meth:`upload_file`) under ``max_megapixels``."""
        return read_upload(path, name, what=what, max_pixels=self.limits.max_pixels)

    def read_payload(self, payload: Any, what: str = "image") -> Upload:
        """:meth:`upload_file`, then :meth:`decode`."""
        path, name = self.upload_file(payload, what)
        return self.decode(path, name, what)


__all__ = ["ServerContext", "UserError", "file_key", "read_payload", "upload_file"]
