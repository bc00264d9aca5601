"""The ``colorizers`` command line: argument parsing and the subcommands (``main``), the ``colorize`` subcommand's
arguments turned into one typed batch job (``colorize``), and the preset listing that answers without importing
torch (``presets``)."""
