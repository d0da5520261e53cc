"""The CDR helpers read what rclpy serializes, and refuse what runs out of the message."""

from __future__ import annotations

import struct

from builtin_interfaces.msg import Time
import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from fleet_common.cdr import CDR_LE, CdrError, align, read_string, read_u32, skip_string


@pytest.mark.parametrize('text', ['', 'a', 'robot7', 'héllo €', 'x' * 300])
def test_reads_a_string_rclpy_serialized(text: str) -> None:
    raw = serialize_message(String(data=text))
    assert raw[:2] == CDR_LE
    value, end = read_string(raw, 4)
    assert value == text
    assert skip_string(raw, 4) == end == 8 + len(text.encode()) + 1
    assert end <= len(raw)


def test_alignment_counts_from_after_the_header() -> None:
    assert [align(at, 8) for at in (4, 5, 11, 12, 13)] == [4, 12, 12, 12, 20]
    assert [align(at, 4) for at in (4, 5, 8, 9)] == [4, 8, 8, 12]
    raw = serialize_message(Time(sec=-5, nanosec=7))
    assert struct.unpack_from('<i', raw, 4)[0] == -5
    assert read_u32(raw, 6) == (7, 12)  # aligned to 8 first


def test_a_string_that_runs_out_of_the_message_is_refused() -> None:
    raw = serialize_message(String(data='robot7'))
    with pytest.raises(CdrError):
        read_string(raw[:10], 4)
    with pytest.raises(CdrError):
        skip_string(raw[:10], 4)
    with pytest.raises(CdrError):  # a length of 0 (no terminating NUL) is not a string
        read_string(raw[:4] + bytes(4), 4)
    with pytest.raises(struct.error):
        read_string(raw[:6], 4)
    with pytest.raises(UnicodeDecodeError):
        read_string(raw[:4] + struct.pack('<I', 3) + b'\xff\xfe\x00', 4)
    assert read_string(raw[:4] + struct.pack('<I', 3) + b'\xff\xfe\x00', 4, 'replace')[0] \
        == '\ufffd\ufffd'
