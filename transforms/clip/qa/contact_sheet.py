"""Contact sheets: one small grayscale JPEG per clip (`--thumbnails`, with --decode).

Tiles come from the analysis-sized pictures visual QA already decoded, so
thumbnails cost no extra decoding. Memory stays bounded: at most
2 x TILES tiles are held; when full, every other one is dropped and only
every other later sample is kept (evenly spread over any clip length).
"""

from __future__ import annotations

import cv2
import numpy as np

from transforms.storage import fs as storage

TILES = 16
COLUMNS = 4
TILE_WIDTH = 96   # pixels
JPEG_QUALITY = 80


class ContactSheet:
    def __init__(self) -> None:
        self._tiles: list[np.ndarray] = []
        self._stride = 1
        self._seen = 0

    def add(self, pts_s: float, gray: np.ndarray) -> None:
        """`on_sample` callback of visual_qa.analyze."""
        if self._seen % self._stride == 0:
            height = max(2, round(gray.shape[0] * TILE_WIDTH / gray.shape[1]))
            self._tiles.append(cv2.resize(gray, (TILE_WIDTH, height), interpolation=cv2.INTER_AREA))
            if len(self._tiles) >= 2 * TILES:
                self._tiles = self._tiles[::2]
                self._stride *= 2
        self._seen += 1

    def image(self) -> np.ndarray:
        tiles = self._tiles[:: max(1, len(self._tiles) // TILES)][:TILES]
        if not tiles:
            return np.zeros((2, 2), np.uint8)
        height = tiles[0].shape[0]
        tiles = [t if t.shape[0] == height else cv2.resize(t, (TILE_WIDTH, height)) for t in tiles]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % COLUMNS)
        rows = [np.hstack(tiles[i:i + COLUMNS]) for i in range(0, len(tiles), COLUMNS)]
        return np.vstack(rows)

    def jpeg(self) -> bytes:
        """The sheet as JPEG bytes. The reader only encodes it: the Beam worker writes it
        (`write_thumbnail`), so a failed write fails the run instead of costing a clip."""
        ok, data = cv2.imencode(".jpg", self.image(), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return data.tobytes()


def write_thumbnail(thumbs_dir: str, clip_id: str, jpeg: bytes) -> None:
    """Write atomically (a retried clip or bundle rewrites the same file); OSError fails the bundle."""
    storage.makedirs(thumbs_dir)
    storage.write_bytes(thumbnail_path(thumbs_dir, clip_id), jpeg)


def thumbnail_path(thumbs_dir: str, clip_id: str) -> str:
    return storage.join(thumbs_dir, f"{clip_id}.jpg")
