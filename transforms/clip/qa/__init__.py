"""Visual QA on decoded frames (OpenCV on numpy arrays): sampling, metrics, contact sheets."""
