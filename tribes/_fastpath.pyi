"""Type stub of the Cython hot path (same API as tribes/_purepath.py)."""
from typing import Final

IMPLEMENTATION: Final[str]
START_DATA: Final[bytes]
END_DATA: Final[bytes]
TRIBES_MBR_BEGIN: Final[bytes]
TRIBES_MBR_END: Final[bytes]
HEADER_SIZE: Final[int]
FRAME_OVERHEAD: Final[int]
DEFAULT_MAX_MESSAGE_SIZE: Final[int]

_Buffer = bytes | bytearray | memoryview
MemberFields = tuple[int, int, int, int, bytes, bytes, bytes, bytes, bytes]

def encode_frame(body: _Buffer) -> bytes: ...

class FrameDecoderCore:
    max_message_size: int
    def __init__(self, max_message_size: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    @property
    def failed(self) -> bool: ...
    def feed(self, data: _Buffer) -> list[bytes]: ...

def parse_member(data: _Buffer, offset: int = 0, length: int = -1) -> MemberFields: ...
def build_member(alive: int, port: int, secure_port: int, udp_port: int, host: bytes, command: bytes,
                 domain: bytes, unique_id: bytes, payload: bytes) -> bytes: ...
def parse_channel_data(body: _Buffer) -> tuple[int, int, bytes, MemberFields, bytes, bytes]: ...
def build_channel_data(options: int, timestamp: int, unique_id: _Buffer, address: _Buffer, message: _Buffer,
                       framed: bool = False) -> bytes: ...
