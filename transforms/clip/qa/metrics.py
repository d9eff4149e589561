"""Per-picture metrics on small grayscale numpy arrays (OpenCV, no decoding here).

Every function takes a 2-D uint8 array (luma, full range 0-255) that has
already been downscaled to `ANALYSIS_WIDTH`, so values are comparable across
resolutions and the cost per frame does not grow with the source size.
"""

from __future__ import annotations

import cv2
import numpy as np

ANALYSIS_WIDTH = 160   # pixels; metrics are computed at this width whatever the source
PHASH_SIZE = 32        # the DCT input is PHASH_SIZE x PHASH_SIZE
PHASH_BITS_SIDE = 8    # the lowest 8 x 8 frequencies give 64 bits


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) to downscale to: ANALYSIS_WIDTH wide, aspect kept, never upscaled."""
    if width <= ANALYSIS_WIDTH:
        return width, height
    scaled_height = max(2, round(height * ANALYSIS_WIDTH / width / 2) * 2)
    return ANALYSIS_WIDTH, scaled_height


def mean_luma(gray: np.ndarray) -> float:
    return float(cv2.mean(gray)[0])


def dark_fraction(gray: np.ndarray, dark_luma: int) -> float:
    """Share of pixels at or below `dark_luma`: near 1 for black frames or a covered lens."""
    return float(np.count_nonzero(gray <= dark_luma)) / gray.size


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low when the picture has no crisp edges (blur, fog, flat)."""
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(std[0, 0]) ** 2


def change(previous: np.ndarray, gray: np.ndarray) -> float:
    """Mean absolute luma difference (0-255) between two pictures of the same size."""
    return cv2.norm(previous, gray, cv2.NORM_L1) / gray.size


def phash(gray: np.ndarray) -> int:
    """64-bit perceptual hash (DCT of a 32x32 thumbnail vs. its median), as a signed int64.

    Signed so it fits Parquet INT64 / BigQuery INT64; compare with `hamming`.
    The DC term is left out of the median because it only carries brightness.
    """
    small = cv2.resize(gray, (PHASH_SIZE, PHASH_SIZE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small.astype(np.float32))[:PHASH_BITS_SIDE, :PHASH_BITS_SIDE].reshape(-1)
    # The median of the 63 AC terms is the 32nd smallest: np.partition finds it ~20x faster
    # than np.median (same value: an odd count needs no averaging).
    bits = low > np.partition(low[1:], 31)[31]
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def hamming_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance of two int64 arrays of hashes."""
    return np.bitwise_count(np.bitwise_xor(a.astype(np.int64), b.astype(np.int64)).view(np.uint64))
