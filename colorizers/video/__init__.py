"""Colorizing films: decoding and encoding with PyAV (``io``), colorizing frame by frame with temporally stable
colour (``colorize``, ``temporal``, ``frame_color``), and the command line's handling of video files
(``files``). PyAV and OpenCV load only when these modules are imported."""
