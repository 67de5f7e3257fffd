"""Just enough of the qcow2 header to size an overlay: libvirt needs its capacity up front."""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"QFI\xfb"
# magic, version, backing file offset, backing file name length, cluster bits, virtual size
HEADER = struct.Struct(">4sIQIIQ")


class ImageError(Exception):
    pass


def virtual_size(image: Path) -> int:
    """The disk size a guest sees, from the qcow2 header (bytes 24..31, big-endian)."""
    with image.open("rb") as file:
        header = file.read(HEADER.size)
    if len(header) < HEADER.size:
        raise ImageError("it is not a qcow2 image (too short)")
    magic, version, _, _, _, size = HEADER.unpack(header)
    if magic != MAGIC:
        raise ImageError("it is not a qcow2 image")
    if version not in (2, 3):
        raise ImageError(f"qcow2 version {version} is not supported")
    if size <= 0:
        raise ImageError("its virtual size is zero")
    return int(size)
