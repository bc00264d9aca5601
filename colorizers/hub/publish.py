"""Publishing a saved colorizer on the Hugging Face Hub (``python -m colorizers push``).

``push_to_hub(folder, repo_id)`` checks the folder is a saved colorizer
(``colorizers.hub.model_folder``), stages a copy in a temporary folder (the user's folder is never
modified) with the model card (``colorizers.hub.model_card``), the family's self-contained
modeling/configuration code, the image processor's code and the ``auto_map`` entries that make
``trust_remote_code=True`` loading work without colorizers (``colorizers.hub.remote_code``), then
``create_repo(exist_ok=True)`` and ``upload_folder`` with allow/ignore patterns.

Loading refuses pickled weights on its own (``colorizers.model_io.loading.safetensors_refusal``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from colorizers.hub.eval_results import RESULTS_FILE
from colorizers.hub.model_card import render_model_card
from colorizers.hub.model_folder import HubError, NotASavedModelError, inspect_model_folder
from colorizers.hub.remote_code import add_remote_code
from colorizers.model_io.loading import PICKLE_SUFFIXES

# What a push uploads, and what it never uploads even if it matched.
ALLOW_PATTERNS = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "README.md",
    "*.py",
    "*.png",
    RESULTS_FILE,
]
IGNORE_PATTERNS = [
    "checkpoints/*",
    "*/checkpoints/*",
    "checkpoint-*",
    "checkpoint_*",
    "optimizer*",
    "scheduler*",
    "scaler*",
    "random_states*",
    *(f"*{suffix}" for suffix in PICKLE_SUFFIXES),  # pickles: never loaded, never published
]


class MissingTokenError(HubError):
    """No Hugging Face token in the standard places."""


class InvalidRepoIdError(HubError):
    """The repository id is not a valid Hub repo id."""


def stage_for_hub(
    folder: str | os.PathLike,
    staging_dir: str | os.PathLike,
    *,
    preset_name: str | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
) -> Path:
    """Copy what a Hub repo of ``folder`` holds into ``staging_dir`` and make it remote-code ready.

    Copies the top-level files that match ``ALLOW_PATTERNS`` and none of ``IGNORE_PATTERNS`` (no
    sub-folders, never the user's own ``.py`` files), adds the remote code, writes ``auto_map`` into
    ``config.json`` and ``preprocessor_config.json`` (creating the latter if the folder has none) and
    renders ``README.md``. ``folder`` itself is only read.
    """
    model = inspect_model_folder(folder, preset_name)
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    for item in sorted(model.path.iterdir()):
        if not item.is_file() or item.name.endswith(".py") or item.name == "README.md":
            continue
        if any(fnmatch(item.name, pattern) for pattern in ALLOW_PATTERNS) and not any(
            fnmatch(item.name, pattern) for pattern in IGNORE_PATTERNS
        ):
            shutil.copy2(item, staging / item.name)
    add_remote_code(model, staging)
    card = render_model_card(
        model.path, model.preset.name if model.preset else None, repo_id=repo_id, revision=revision
    )
    card.save(staging / "README.md")
    return staging


def resolve_token(token: str | None = None) -> str:
    """``token``, else the standard places (``HF_TOKEN``, the ``hf auth login`` token file); else raise."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise MissingTokenError(
            "no Hugging Face token found: pushing needs a token with write access. Set the HF_TOKEN environment "
            "variable or run `hf auth login` (tokens: https://huggingface.co/settings/tokens)."
        )
    return token


def check_repo_id(repo_id: str) -> str:
    """A valid ``name`` or ``namespace/name`` repo id, or ``InvalidRepoIdError``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or not repo_id.strip():
        raise InvalidRepoIdError("the repository id is empty: give one like 'your-name/colorizers-unet'")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise InvalidRepoIdError(
            f"{repo_id!r} is not a valid Hub repository id ('namespace/name' of letters, digits, '-', '_' and '.', "
            f"at most 96 characters): {error}"
        ) from None
    if repo_id.count("/") > 1:
        raise InvalidRepoIdError(f"{repo_id!r} is not a valid Hub repository id: use 'namespace/name'")
    return repo_id


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    token: str | None = None,
    preset_name: str | None = None,
    endpoint: str | None = None,
):
    """Publish a saved model folder to the Hub: card, weights, processor config, remote code, images.

    Creates the repository if needed (``private`` applies only then) and, when ``revision`` names a
    branch that does not exist yet, creates it from the default branch. Returns the
    ``huggingface_hub.CommitInfo`` of the upload. ``folder`` is never modified.

    Raises:
        InvalidRepoIdError, MissingTokenError, NotASavedModelError (all ``HubError``, a ``ValueError``),
        or ``HubError`` when the Hub refuses the token or the upload.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    from colorizers.version import __version__

    check_repo_id(repo_id)
    model = inspect_model_folder(folder, preset_name)
    token = resolve_token(token)
    if constants.is_offline_mode():
        raise HubError("offline mode is on (HF_HUB_OFFLINE=1): unset it to push to the Hub")
    api = HfApi(endpoint=endpoint, token=token)
    what = model.preset.name if model.preset else model.model_type
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = getattr(repo_url, "repo_id", None) or repo_id
        if revision is not None:
            _ensure_branch(api, repo_id, revision)
        with tempfile.TemporaryDirectory(prefix="colorizers-push-") as staging:
            stage_for_hub(
                model.path,
                staging,
                preset_name=model.preset.name if model.preset else None,
                repo_id=repo_id,
                revision=revision,
            )
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                revision=revision,
                commit_message=commit_message or f"Upload {what} colorizer (colorizers {__version__})",
                commit_description=commit_description,
                allow_patterns=ALLOW_PATTERNS,
                ignore_patterns=IGNORE_PATTERNS,
            )
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(
                f"the Hub refused the token for {repo_id} (HTTP {status}): check that HF_TOKEN / `hf auth login` "
                f"holds a token with write access to that namespace. {_first_line(error)}"
            ) from error
        raise HubError(f"pushing {model.path} to {repo_id} failed: {_first_line(error)}") from error
    except (httpx.TransportError, OfflineModeIsEnabled) as error:
        raise HubError(f"could not reach the Hub at {api.endpoint} to push {repo_id}: {_first_line(error)}") from error


def _ensure_branch(api, repo_id: str, revision: str) -> None:
    refs = api.list_repo_refs(repo_id)
    if any(branch.name == revision for branch in refs.branches):
        return
    if any(tag.name == revision for tag in refs.tags) or revision.startswith("refs/"):
        raise HubError(f"cannot push to {revision!r} of {repo_id}: it is a tag or a special ref, not a branch")
    if len(revision) == 40 and all(char in "0123456789abcdef" for char in revision.lower()):
        raise HubError(f"cannot push to {revision!r}: that is a commit sha; name a branch instead")
    api.create_branch(repo_id, branch=revision, exist_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = [
    "ALLOW_PATTERNS",
    "IGNORE_PATTERNS",
    "HubError",
    "InvalidRepoIdError",
    "MissingTokenError",
    "NotASavedModelError",
    "check_repo_id",
    "push_to_hub",
    "resolve_token",
    "stage_for_hub",
]
