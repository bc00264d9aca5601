"""Colorizing films: decoding and encoding with PyAV (``io``), colorizing frame by frame with temporally stable
colour (``colorize``, ``temporal``, ``frame_color``), and the video files of a batch run (``files``). PyAV and
OpenCV load only when these modules are imported."""
