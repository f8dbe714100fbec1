"""Stream constants of Java Object Serialization (java.io.ObjectStreamConstants), protocol version 2."""
from __future__ import annotations

STREAM_MAGIC = 0xACED
STREAM_VERSION = 5
STREAM_HEADER = b"\xac\xed\x00\x05"

TC_NULL = 0x70
TC_REFERENCE = 0x71
TC_CLASSDESC = 0x72
TC_OBJECT = 0x73
TC_STRING = 0x74
TC_ARRAY = 0x75
TC_CLASS = 0x76
TC_BLOCKDATA = 0x77
TC_ENDBLOCKDATA = 0x78
TC_RESET = 0x79
TC_BLOCKDATALONG = 0x7A
TC_EXCEPTION = 0x7B
TC_LONGSTRING = 0x7C
TC_PROXYCLASSDESC = 0x7D
TC_ENUM = 0x7E

BASE_WIRE_HANDLE = 0x7E0000

SC_WRITE_METHOD = 0x01
SC_SERIALIZABLE = 0x02
SC_EXTERNALIZABLE = 0x04
SC_BLOCK_DATA = 0x08
SC_ENUM = 0x10

#: Java's ObjectOutputStream block buffer (BlockDataOutputStream.MAX_BLOCK_SIZE).
MAX_BLOCK_SIZE = 1024

PRIMITIVE_CODES = frozenset("BCDFIJSZ")
PRIMITIVE_SIZES = {"B": 1, "C": 2, "D": 8, "F": 4, "I": 4, "J": 8, "S": 2, "Z": 1}
