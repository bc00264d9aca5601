"""Getting a model safely from a name to memory: ``loading`` resolves a preset, a local folder or a Hub id and
loads it (safetensors only, remote code only when asked); ``checks`` validates a folder's configs and weight
files before anything is built from them; ``checksums`` verifies the shipped presets' weights.

The package stays light to import (no torch at import time), so the command line can start at once."""
