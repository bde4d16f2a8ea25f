import os

# Tesseract reads OMP_THREAD_LIMIT when it loads (in-process) or starts (the CLI): set once here, before any bench
# module imports worker/, so every bench and every process it spawns runs it single-threaded as the worker does.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
