"""Read serialized ROS 2 messages (little-endian plain CDR) field by field, without rclpy.

Fast DDS sends plain CDR (XCDR1) in the byte order of the host: a 4-byte encapsulation
header (``00 01`` for little endian, then two option bytes), then each field in the order
its ``.msg`` declares it, each primitive aligned to its own size counted from after that
header. A string is a ``uint32`` length that includes the terminating NUL, then the bytes;
a sequence is a ``uint32`` count, then its elements.

Reading the fields a consumer needs straight from the bytes costs a fraction of what
``rclpy.serialization.deserialize_message`` costs for large messages: rclpy builds every
nested message (a Python ``__init__`` each) in one call that holds the interpreter while
it runs. The helpers here take ``(raw, offset)`` and return the value with the offset after
it; a reader that meets any other encoding (:data:`CDR_LE` not at the start) leaves the
message to rclpy.
"""

from __future__ import annotations

import struct

CDR_LE = b'\x00\x01'
"""The encapsulation header of little-endian plain CDR, what Fast DDS sends on x86 and ARM."""
HEADER = 4
"""Bytes of the encapsulation header; alignment counts from after it."""
U32 = struct.Struct('<I')


class CdrError(ValueError):
    """The bytes are not a well-formed serialization of the expected message."""


def align(at: int, size: int) -> int:
    """Return ``at`` advanced to the next multiple of ``size`` (1, 2, 4 or 8) counted from
    after the encapsulation header."""
    return at + (-(at - HEADER) % size)


def read_string(raw: bytes, at: int, errors: str = 'strict') -> tuple[str, int]:
    """Return the string at ``at`` (aligned first) and the offset after it.

    Raises :class:`CdrError` when its length runs past the end, ``struct.error`` when the
    length itself does, and ``UnicodeDecodeError`` for bytes that are not UTF-8 (unless
    ``errors`` says otherwise, as in :meth:`bytes.decode`)."""
    at += -(at - HEADER) % 4
    n = U32.unpack_from(raw, at)[0]
    if n < 1 or at + 4 + n > len(raw):
        raise CdrError(f'string at byte {at} runs out of the message')
    return raw[at + 4:at + 3 + n].decode('utf-8', errors), at + 4 + n


def skip_string(raw: bytes, at: int) -> int:
    """Return the offset after the string at ``at`` without decoding it (bounds checked as
    :func:`read_string` does)."""
    at += -(at - HEADER) % 4
    n = U32.unpack_from(raw, at)[0]
    if n < 1 or at + 4 + n > len(raw):
        raise CdrError(f'string at byte {at} runs out of the message')
    return at + 4 + n


def read_u32(raw: bytes, at: int) -> tuple[int, int]:
    """Return the ``uint32`` (a sequence's count, too) at ``at`` (aligned first) and the
    offset after it."""
    at += -(at - HEADER) % 4
    return U32.unpack_from(raw, at)[0], at + 4
