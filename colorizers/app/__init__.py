"""The Gradio app's tabs: compare models on a photo (``compare``), guide the colours with clicks (``guide``) and
colorize a film (``video``). The top-level ``app.py`` assembles them into the Space."""
