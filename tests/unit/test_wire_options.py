from __future__ import annotations

import pytest

from tribes.io.options import SendOptions, parse_send_options, send_options_to_string


def test_bits_match_channel_java():
    assert [int(o) for o in (SendOptions.BYTE_MESSAGE, SendOptions.USE_ACK, SendOptions.SYNCHRONIZED_ACK,
                             SendOptions.ASYNCHRONOUS, SendOptions.SECURE, SendOptions.UDP,
                             SendOptions.MULTICAST)] == [1, 2, 4, 8, 16, 32, 64]
    assert SendOptions.DEFAULT == SendOptions.USE_ACK == 2


@pytest.mark.parametrize("value,expected", [
    ("6", 6), (6, 6), ("+6", 6), ("-1", -1), ("", 0), ("8", 8),
    ("use_ack,sync", 6), ("use_ack , sync", 6), ("async", 8), ("asynchronous", 8),
    ("byte", 1), ("byte_message", 1), ("multicast", 64), ("secure", 16), ("udp", 32),
    ("synchronized_ack", 4), ("use_ack,sync,async,byte,secure,udp,multicast", 127),
])
def test_parse_like_channel_parse_send_options(value, expected):
    assert parse_send_options(value) == expected


@pytest.mark.parametrize("bad", ["USE_ACK", "ack", "use_ack,", " use_ack", "6 ", "9999999999x"])
def test_parse_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="is not a valid option"):
        parse_send_options(bad)


def test_parse_rejects_out_of_int_range():
    with pytest.raises(ValueError):
        parse_send_options(2**31)
    with pytest.raises(ValueError, match="not a valid option"):
        parse_send_options("2147483648")  # Integer.parseInt fails, then it is no option name either


def test_to_string_like_get_send_options_as_string():
    assert send_options_to_string(6) == "sync, use_ack"
    assert send_options_to_string(8) == "async"
    assert send_options_to_string(0) == ""
