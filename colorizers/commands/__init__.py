"""The ``colorizers`` command line: argument parsing and the subcommands (``main``), and the preset listing that
answers without importing torch (``presets``)."""
