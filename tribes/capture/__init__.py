"""Decoding captured Tribes traffic: pcap reading (scapy), TCP reassembly, Tribes events.

``decode_pcap(path)`` yields ``MemberEvent``, ``MessageEvent``, ``AckEvent``, ``ErrorEvent`` and
``NoteEvent`` objects (each has ``to_json()``); ``CaptureDecoder`` is the sans-I/O core.
"""
from __future__ import annotations

from tribes.capture.decoder import (
    AckEvent, CaptureDecoder, ErrorEvent, Event, MemberEvent, MessageEvent, NoteEvent,
)
from tribes.capture.pcap import decode_pcap

__all__ = ["decode_pcap", "CaptureDecoder", "Event", "MemberEvent", "MessageEvent", "AckEvent", "ErrorEvent",
           "NoteEvent"]
