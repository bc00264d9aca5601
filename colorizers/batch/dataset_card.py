"""``colorize --dataset ... --push-to-hub ORG/NAME``: the dataset card of a colorized dataset, and its upload.

Only ``data/*.parquet`` and the card (``README.md``) are uploaded: the manifest stays local (it can hold local
paths). The card names the model, its revision and the source dataset, and counts each split's rows and those
that could not be colorized, from the parquet files' own metadata (nothing is read again).
"""

from __future__ import annotations

import sys
from pathlib import Path

from colorizers.batch.job import BatchJob

OUTPUT_COLUMN = "colorized"


def split_counts(data_dir: Path) -> dict[str, tuple[int, int | None]]:
    """``{split: (rows, rows without a colorized image or None if unknown)}`` from the shards' footers."""
    import pyarrow.parquet as pq

    counts: dict[str, tuple[int, int | None]] = {}
    for path in sorted(data_dir.glob("*.parquet")):
        split = path.name.rsplit("-", 1)[0]
        metadata = pq.ParquetFile(path).metadata
        rows, missing = metadata.num_rows, 0
        leaf = next(
            (i for i in range(metadata.num_columns) if metadata.schema.column(i).path == f"{OUTPUT_COLUMN}.bytes"),
            None,
        )
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(leaf).statistics if leaf is not None else None
            if statistics is None or not statistics.has_null_count or missing is None:
                missing = None
            else:
                missing += statistics.null_count
        before_rows, before_missing = counts.get(split, (0, 0))
        counts[split] = (
            before_rows + rows,
            None if missing is None or before_missing is None else before_missing + missing,
        )
    return counts


def dataset_card(job: BatchJob, data_dir: Path, revision: str | None) -> str:
    options = job.dataset
    counts = split_counts(data_dir)
    configs = "".join(f"  - split: {split}\n    path: data/{split}-*.parquet\n" for split in counts)
    rows = "".join(
        f"| {split} | {total} | {'?' if missing is None else total - missing} | {'?' if missing is None else missing} |\n"
        for split, (total, missing) in counts.items()
    )
    at = f" at revision `{revision}`" if revision else ""
    return (
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        + configs
        + "tags:\n- colorizers\n- image-colorization\n---\n\n"
        + f"# {options.push_to_hub.split('/')[-1]}\n\n"
        + f"The images of the column `{options.image_column}` of the dataset `{options.name}`, colorized by the "
        f"colorizers model `{job.model}`{at}, in a new image column `{OUTPUT_COLUMN}` (PNG, "
        "at each image's own size). The other columns are the source's, unchanged. A row whose image could not "
        f"be read or colorized has no `{OUTPUT_COLUMN}` image.\n\n"
        + "| split | rows | colorized | not colorized |\n|---|---|---|---|\n"
        + rows
        + "\nMade with `colorizers colorize --dataset "
        + f"{options.name} --split {options.split} --image-column {options.image_column} -m {job.model}`.\n"
    )


def push_dataset(job: BatchJob, output_dir: Path, revision: str | None) -> int:
    """Write the card, create the dataset repository if needed and upload; 0, or 1 with a one-line reason."""
    from huggingface_hub import HfApi

    options = job.dataset
    data_dir = output_dir / "data"
    try:
        (output_dir / "README.md").write_text(dataset_card(job, data_dir, revision))
        api = HfApi()
        api.create_repo(options.push_to_hub, repo_type="dataset", exist_ok=True)
        commit = api.upload_folder(
            repo_id=options.push_to_hub,
            repo_type="dataset",
            folder_path=str(output_dir),
            allow_patterns=["data/*.parquet", "README.md"],
            commit_message=f"colorizers: {options.name} ({options.split}) colorized by {job.model}",
        )
    except Exception as error:  # noqa: BLE001 - no token, no network, refused...: one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"error: could not push to the Hub dataset {options.push_to_hub}: {reason}", file=sys.stderr)
        return 1
    print(f"pushed {data_dir} to {getattr(commit, 'commit_url', options.push_to_hub)}")
    return 0
