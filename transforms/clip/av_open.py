"""Opening media for reading with PyAV: one way, on every path (index, --decode, --thumbnails).

Cameras and export tools write tags in Latin-1 or garble them, and PyAV decodes
every tag as strict UTF-8 on first access of `metadata` (container or stream).
A tag is never worth a readable clip: undecodable bytes are replaced.
"""

from __future__ import annotations

from typing import Optional

import av


def open_media(source, buffer_size: Optional[int] = None) -> av.container.InputContainer:
    """`av.open` for reading a clip, tolerant of any tag bytes. Use as `with open_media(...)`."""
    options = {} if buffer_size is None else {"buffer_size": buffer_size}
    return av.open(source, mode="r", metadata_errors="replace", **options)
