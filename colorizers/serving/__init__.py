"""Serving colorizers to other people: which model names a server may load and how (``policy``), and the rules
a request goes through, from upload decoding to the scores shown beside each result (``comparison``), and the cap
on a request's size in front of the app (``request_cap``). Limits for
public mode live in ``colorizers.limits``, below everything that enforces them."""
