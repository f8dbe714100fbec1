#!/usr/bin/env python3
"""Write seed corpora (fuzz/corpus/<target>/) from the golden vectors made by Tomcat."""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(os.path.dirname(HERE), "tests", "vectors", "wire", "tomcat-10.1.json")


def put(target: str, data: bytes) -> None:
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as fh:
        fh.write(data)


def main() -> None:
    with open(VEC, encoding="utf-8") as fh:
        vec = json.load(fh)
    for m in vec["members"]:
        put("member", bytes.fromhex(m["bytes"]))
    for c in vec["channelData"]:
        if "body" in c:
            put("channel_data", bytes.fromhex(c["body"]))
            put("frames", b"\x02\x00" + bytes.fromhex(c["frame"]))
    for s in vec["streams"]:
        put("frames", b"\x04\x03\x10\x00\x20\x00\x30\x00" + bytes.fromhex(s["stream"])[:3000])
    put("frames", b"\x00\x00" + bytes.fromhex(vec["acks"]["ACK_COMMAND"]) * 3)


if __name__ == "__main__":
    main()
