"""Channel send options, importable from ``io`` as before: defined once, in ``tribes.channel``.

``channelSendOptions`` in server.xml is either an int or a comma list of names
(``Channel.parseSendOptions``): ``"6"`` or ``"use_ack,sync"``.
"""
from __future__ import annotations

from tribes.channel import OPTION_ALIASES, SendOptions, parse_send_options, send_options_to_string

__all__ = ["SendOptions", "OPTION_ALIASES", "parse_send_options", "send_options_to_string"]
