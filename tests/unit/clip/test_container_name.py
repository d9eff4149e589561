"""`container` names the format, not FFmpeg's demuxer family (issue 22).

FFmpeg's mov demuxer reads MP4, MOV, M4V and 3GP alike and its matroska
demuxer Matroska and WebM alike; a records team needs to tell a QuickTime
file named `.MP4` from an MP4. Files are made with the ffmpeg CLI; ffprobe's
`major_brand` format tag is the reference for the MOV family.
"""

from __future__ import annotations

import shutil

import pytest

from tests.support.oracle import ffmpeg, index
from tests.support.runs import needs_ffprobe
from transforms.clip.container_name import ebml_doctype, specific_container

MOV_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.mark.parametrize("brand, name", [
    ("isom", "mp4"), ("mp42", "mp4"), ("avc1", "mp4"), ("qt  ", "mov"), (None, "mov"), ("", "mov"),
    ("M4V ", "m4v"), ("M4A ", "m4a"), ("3gp4", "3gp"), ("3g2a", "3g2"), ("mjp2", "mj2"),
])
def test_mov_family_by_major_brand(brand, name):
    assert specific_container(MOV_FAMILY, brand, None) == name


def test_other_demuxers_keep_ffmpegs_name():
    assert specific_container("avi", None, None) == "avi"
    assert specific_container("mpegts", "isom", b"\x47" * 64) == "mpegts"


def test_ebml_doctype():
    header = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm\x42\x87\x81\x04"
    assert ebml_doctype(header) == "webm"
    assert specific_container("matroska,webm", None, header) == "webm"
    assert ebml_doctype(header.replace(b"\x84webm", b"\x88matroska")) == "matroska"
    assert ebml_doctype(b"\x1a\x45\xdf\xa3\x9f\x42\x82") is None  # cut inside the element
    assert ebml_doctype(b"RIFF....") is None
    assert specific_container("matroska,webm", None, None) == "matroska"


@needs_ffprobe
@pytest.mark.parametrize("made_as, codec, expected", [
    ("mp4", "libx264", "mp4"), ("mov", "libx264", "mov"), ("m4v", "libx264", "m4v"),
    ("3gp", "h263", "3gp"), ("mkv", "libx264", "matroska"), ("webm", "libvpx", "webm"),
])
def test_files_named_mp4_are_told_apart(tmp_path, made_as, codec, expected):
    made = str(tmp_path / f"clip.{made_as}")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=176x144:rate=10:duration=1", "-c:v", codec, made)
    renamed = str(tmp_path / "CLIP0001.MP4")  # what a camera export or a careless copy does
    shutil.move(made, renamed)
    record, _ = index(renamed)
    assert record.container == expected
