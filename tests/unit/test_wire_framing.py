from __future__ import annotations

import pytest

from tribes.io.framing import (
    ACK_DATA, ACK_FRAME, DEFAULT_MAX_MESSAGE_SIZE, END_DATA, FAIL_ACK_DATA, FAIL_ACK_FRAME, START_DATA,
    DecoderFailedError, FrameDecoder, FramingError, InvalidEndMarkerError, InvalidStartMarkerError,
    MessageTooLargeError, NegativeLengthError, encode_frame,
)


def test_constants_match_xbytebuffer_and_constants_java():
    assert START_DATA == b"FLT2002" and END_DATA == b"TLF2003"
    assert ACK_DATA == b"\x06\x02\x03" and FAIL_ACK_DATA == b"\x0b\x00\x05"
    assert ACK_FRAME.hex() == "464c5432303032" "00000003" "060203" "544c4632303033"
    assert FAIL_ACK_FRAME.hex() == "464c5432303032" "00000003" "0b0005" "544c4632303033"
    assert DEFAULT_MAX_MESSAGE_SIZE == 256 * 1024 * 1024


def test_encode_frame():
    assert encode_frame(b"") == b"FLT2002\x00\x00\x00\x00TLF2003"
    assert encode_frame(b"abc") == b"FLT2002\x00\x00\x00\x03abcTLF2003"


BODIES = [b"", b"a", ACK_DATA, b"x" * 1000, bytes(range(256)) * 3, FAIL_ACK_DATA]
STREAM = b"".join(encode_frame(b) for b in BODIES)


def test_many_frames_in_one_chunk():
    assert FrameDecoder().feed(STREAM) == BODIES


def test_one_byte_at_a_time():
    d = FrameDecoder()
    out = []
    for i in range(len(STREAM)):
        out += d.feed(STREAM[i:i + 1])
    assert out == BODIES and d.buffered == 0


@pytest.mark.parametrize("split", [1, 5, 7, 10, 11, 12, 17, 18, 19, 1000, 1018, 1019, len(STREAM) - 1])
def test_split_anywhere(split):
    d = FrameDecoder()
    assert d.feed(STREAM[:split]) + d.feed(STREAM[split:]) == BODIES


def test_accepts_bytearray_and_memoryview():
    d = FrameDecoder()
    assert d.feed(bytearray(STREAM[:50])) + d.feed(memoryview(STREAM)[50:]) == BODIES


def test_empty_feed():
    assert FrameDecoder().feed(b"") == []


def test_junk_before_frame_keeps_nothing_and_says_so():
    with pytest.raises(InvalidStartMarkerError, match="FLT2002"):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(InvalidStartMarkerError):
        FrameDecoder().feed(b"X")  # detected on the first wrong byte


def test_valid_frames_before_bad_bytes_are_kept():
    good = encode_frame(b"one") + encode_frame(b"two")
    with pytest.raises(InvalidStartMarkerError) as info:
        FrameDecoder().feed(good + b"garbage!")
    assert info.value.frames == [b"one", b"two"]


def test_lying_length_is_caught_at_the_end_marker():
    bad = START_DATA + (5).to_bytes(4, "big") + b"abc" + END_DATA + b"xx"
    with pytest.raises(InvalidEndMarkerError, match="TLF2003") as info:
        FrameDecoder().feed(encode_frame(b"ok") + bad)
    assert info.value.frames == [b"ok"]


def test_negative_length():
    with pytest.raises(NegativeLengthError, match="negative"):
        FrameDecoder().feed(START_DATA + b"\xff\xff\xff\xfe")


def test_too_large_names_the_setting():
    d = FrameDecoder(max_message_size=1000)
    d.feed(START_DATA + (1000).to_bytes(4, "big"))  # exactly the maximum is fine
    with pytest.raises(MessageTooLargeError, match="max_message_size=1000"):
        FrameDecoder(max_message_size=1000).feed(START_DATA + (1001).to_bytes(4, "big"))
    with pytest.raises(MessageTooLargeError, match="max_message_size=268435456"):
        FrameDecoder().feed(START_DATA + (DEFAULT_MAX_MESSAGE_SIZE + 1).to_bytes(4, "big"))


def test_failed_decoder_refuses_more_input():
    d = FrameDecoder()
    with pytest.raises(FramingError):
        d.feed(b"nope")
    with pytest.raises(DecoderFailedError):
        d.feed(ACK_FRAME)


def test_bounded_memory_under_endless_garbage():
    d = FrameDecoder(max_message_size=4096)
    d.feed(START_DATA + (4096).to_bytes(4, "big"))
    with pytest.raises(InvalidEndMarkerError):
        for _ in range(10_000):
            d.feed(b"\x00" * 1000)
            assert d.buffered <= 4096 + 18


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_lying_huge_length_is_not_allocated_up_front():
    """An 11-byte header claiming 200 MiB must not make the decoder allocate 200 MiB."""
    before = _rss_bytes()
    decoders = [FrameDecoder() for _ in range(20)]
    for d in decoders:
        d.feed(START_DATA + (200 << 20).to_bytes(4, "big") + b"\x00" * 1000)
        assert d.buffered == 11 + 1000
    assert _rss_bytes() - before < 64 << 20  # 20 x 200 MiB would be 4 GiB


def test_buffer_never_exceeds_max_plus_one_header():
    d = FrameDecoder(max_message_size=100_000)
    d.feed(START_DATA + (100_000).to_bytes(4, "big"))
    chunk = b"\x55" * 4096
    while True:
        try:
            d.feed(chunk)
        except InvalidEndMarkerError as exc:
            assert "after a 100000-byte body" in str(exc)
            break
        assert d.buffered <= 100_000 + 18


@pytest.mark.parametrize("garbage", [b"\x00", b"FLT2003", b"FLT20x", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                                     b"GET /", b"TRIBES-B\x01\x00"])
def test_garbage_is_rejected_on_its_first_wrong_byte(garbage):
    d = FrameDecoder()
    good = encode_frame(b"payload")
    with pytest.raises(InvalidStartMarkerError) as info:
        for i in range(len(good + garbage)):
            d.feed((good + garbage)[i:i + 1])
    assert info.value.frames == [] and "FLT2002" in str(info.value)
    with pytest.raises(InvalidStartMarkerError) as info:
        FrameDecoder().feed(good + garbage)
    assert info.value.frames == [b"payload"]
