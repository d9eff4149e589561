"""Which versions of clipindex's moving parts a process runs with.

Read in the launcher (`clipindex --version`, run.json's `versions`) and once on a worker
(run.json's `versions.workers`): when a nightly's numbers change, the first question is
whether a dependency changed under it. Versions come from the installed distributions'
metadata; FFmpeg's and OpenCV's own versions need their modules (imported only here).
"""

from __future__ import annotations

import importlib.metadata
import platform

# Distribution name -> run.json key. The distributions that shape rows or run the pipeline.
DISTRIBUTIONS = {
    "apache-beam": "apache_beam",
    "av": "av",
    "pyarrow": "pyarrow",
    "opencv-python-headless": "opencv_python_headless",
    "numpy": "numpy",
    "google-cloud-storage": "google_cloud_storage",
}


def _installed(distribution: str):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict:
    """Installed versions of the distributions above, FFmpeg's (as PyAV carries it), OpenCV's
    and Python's. Keys are stable: run.json readers compare them across nights."""
    import av
    import cv2

    versions = {key: _installed(name) for name, key in DISTRIBUTIONS.items()}
    versions.update(ffmpeg=av.ffmpeg_version_info, opencv=cv2.__version__,
                    python=platform.python_version())
    return versions


def version_lines(clipindex_version: str) -> list[str]:
    """`clipindex --version`: one line per part, as a bug report wants them."""
    versions = library_versions()
    return [f"clipindex {clipindex_version}",
            f"apache-beam {versions['apache_beam']}",
            f"av {versions['av']} (FFmpeg {versions['ffmpeg']})",
            f"pyarrow {versions['pyarrow']}",
            f"opencv-python-headless {versions['opencv_python_headless']} (OpenCV {versions['opencv']})",
            f"numpy {versions['numpy']}",
            f"google-cloud-storage {versions['google_cloud_storage']}",
            f"Python {versions['python']} ({platform.python_implementation()}, {platform.platform(terse=True)})"]


WORKER_VERSIONS_FILE = ".worker-versions.json"  # hidden in the snapshot, read and removed by the launcher


def record_worker_versions(snapshot_dir: str) -> None:
    """On a worker: write this worker's versions beside the run's output (see pipeline.graph)."""
    import json

    from transforms.storage import fs as storage

    storage.write_bytes(storage.join(snapshot_dir, WORKER_VERSIONS_FILE),
                        json.dumps(library_versions(), sort_keys=True).encode("utf-8"))


def take_worker_versions(snapshot_dir: str):
    """In the launcher: the versions a worker recorded (None when no pipeline ran), file removed."""
    import json

    from transforms.storage import fs as storage

    path = storage.join(snapshot_dir, WORKER_VERSIONS_FILE)
    if not storage.exists(path):
        return None
    versions = json.loads(storage.read_text(path))
    storage.delete_file(path)
    return versions
