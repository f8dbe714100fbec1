#!/usr/bin/env python3
"""atheris target: member packet decoder (parse_member, both paths)."""
import sys

import atheris

with atheris.instrument_imports():
    from _common import check_member


def test_one(data: bytes) -> None:
    check_member(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
