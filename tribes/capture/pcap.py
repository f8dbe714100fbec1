"""Read a pcap/pcapng file with scapy and run it through ``CaptureDecoder``."""
from __future__ import annotations

import logging
from typing import Iterator

from tribes.capture.decoder import CaptureDecoder, Event

log = logging.getLogger("tribes.capture")


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def decode_pcap(path: str, decoder: CaptureDecoder | None = None) -> Iterator[Event]:
    """Yield the events of every Tribes packet in the capture, then the end-of-capture checks."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    dec = decoder or CaptureDecoder()
    with PcapReader(path) as reader:
        for pkt in reader:
            ip = pkt.getlayer(IP)
            if ip is None:
                ip = pkt.getlayer(IPv6)
                if ip is None:
                    continue
            elif ip.flags.MF or ip.frag:
                log.debug("skipping an IPv4 fragment")
                continue
            t = float(pkt.time)
            l4 = ip.payload
            if isinstance(l4, TCP):
                payload = bytes(l4.payload)
                if ip.version == 4:
                    # trust the IP length, not the link layer (Ethernet padding)
                    payload = payload[:max(0, ip.len - ip.ihl * 4 - l4.dataofs * 4)]
                yield from dec.tcp(t, _endpoint(ip.src, l4.sport), _endpoint(ip.dst, l4.dport), l4.seq,
                                   str(l4.flags), payload)
            elif isinstance(l4, UDP):
                payload = bytes(l4.payload)
                if l4.len:
                    payload = payload[:max(0, l4.len - 8)]
                yield from dec.udp(t, _endpoint(ip.src, l4.sport), _endpoint(ip.dst, l4.dport), payload)
    yield from dec.finish()
