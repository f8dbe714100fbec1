#!/usr/bin/env python3
"""atheris target: ChannelData decoder (parse_channel_data, both paths)."""
import sys

import atheris

with atheris.instrument_imports():
    from _common import check_channel_data


def test_one(data: bytes) -> None:
    check_channel_data(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
