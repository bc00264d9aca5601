"""Colorizing many files at once, as ``colorizers colorize`` does: finding inputs and preparing outputs
(``files``), the engine that decodes, colorizes and writes in overlapping threads (``engine``, ``overlap``),
multi-process archive runs with a resumable manifest (``run``, ``manifest``), and Hub datasets in and out
(``datasets``, ``dataset_card``)."""
