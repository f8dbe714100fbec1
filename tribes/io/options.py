"""Channel send options (``Channel.SEND_OPTIONS_*``) and Tomcat's way of parsing them.

``channelSendOptions`` in server.xml is either an int or a comma list of names
(``Channel.parseSendOptions``): ``"6"`` or ``"use_ack,sync"``.
"""
from __future__ import annotations

import enum
import re

__all__ = ["SendOptions", "OPTION_ALIASES", "parse_send_options", "send_options_to_string"]


class SendOptions(enum.IntFlag):
    """Every SEND_OPTIONS bit of ``org.apache.catalina.tribes.Channel``."""

    BYTE_MESSAGE = 0x0001
    USE_ACK = 0x0002
    SYNCHRONIZED_ACK = 0x0004
    ASYNCHRONOUS = 0x0008
    SECURE = 0x0010
    UDP = 0x0020
    MULTICAST = 0x0040
    # Channel.SEND_OPTIONS_DEFAULT (an alias of USE_ACK, as in Tomcat)
    DEFAULT = USE_ACK


# Channel.getSendOptionValue: names and aliases (case-sensitive, as Java's switch).
OPTION_ALIASES: dict[str, int] = {
    "asynchronous": SendOptions.ASYNCHRONOUS,
    "async": SendOptions.ASYNCHRONOUS,
    "byte_message": SendOptions.BYTE_MESSAGE,
    "byte": SendOptions.BYTE_MESSAGE,
    "multicast": SendOptions.MULTICAST,
    "secure": SendOptions.SECURE,
    "synchronized_ack": SendOptions.SYNCHRONIZED_ACK,
    "sync": SendOptions.SYNCHRONIZED_ACK,
    "udp": SendOptions.UDP,
    "use_ack": SendOptions.USE_ACK,
}

# Names in bit order, as Channel.getSendOptionsAsString uses them.
_BIT_NAMES = ("byte", "use_ack", "sync", "async", "secure", "udp", "multicast")

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
_SPLIT = re.compile(r"\s*,\s*")


def parse_send_options(value: str | int) -> int:
    """Parse a send-options value exactly as ``Channel.parseSendOptions`` does.

    An int is returned unchanged; ``""`` gives 0; a decimal Java int (``"6"``, ``"+6"``)
    is taken as is; otherwise a comma list of option names/aliases is OR-ed together.
    Raises ``ValueError`` naming the bad option.
    """
    if isinstance(value, bool):
        raise TypeError("send options must be an int or a string, not bool")
    if isinstance(value, int):
        if not -(2**31) <= value < 2**31:
            raise ValueError(f"send options {value} do not fit in a Java int")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"send options must be an int or a string, not {type(value).__name__}")
    if value == "":
        return 0
    if _JAVA_INT.match(value):
        number = int(value)
        if -(2**31) <= number < 2**31:
            return number
    result = 0
    for name in _SPLIT.split(value):
        try:
            result |= int(OPTION_ALIASES[name])
        except KeyError:
            raise ValueError(
                f"[{name}] is not a valid option; use an int or a comma list of "
                f"{', '.join(sorted(OPTION_ALIASES))}"
            ) from None
    return result


def send_options_to_string(value: int) -> str:
    """``Channel.getSendOptionsAsString``: e.g. 6 -> ``"sync, use_ack"`` (highest bit first)."""
    return ", ".join(_BIT_NAMES[bit] for bit in range(len(_BIT_NAMES) - 1, -1, -1) if value & (1 << bit))
