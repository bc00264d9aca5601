"""Colorizing many files at once, as ``colorizers colorize`` does: the typed job a run is given (``job``), finding
inputs and preparing outputs (``files``), the one engine that decodes, colorizes with the run's
``ImageColorizationPipeline`` and writes in overlapping threads (``engine``, ``overlap``), how a plain run and an
archive run account for their inputs (``ledger``), multi-process archive runs with a resumable manifest (``run``,
``manifest``), and Hub datasets in and out (``datasets``, ``dataset_card``)."""
