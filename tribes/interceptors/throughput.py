"""ThroughputInterceptor: statistics only (no wire effect); logs a report every ``interval`` messages."""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Sequence

from tribes.channel import ChannelException, ChannelInterceptor, InterceptorPayload
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member

log = logging.getLogger("tribes.interceptors")

__all__ = ["ThroughputInterceptor"]

_MB = 1024.0 * 1024.0


def _frame_length(msg: ChannelData) -> int:
    # XByteBuffer.getDataPackageLength(ChannelData.getDataPackageLength())
    return 18 + 4 + 8 + 4 + len(msg.unique_id) + 4 + len(_member_bytes(msg.address)) + 4 + len(msg.message)


def _member_bytes(m: Member) -> bytes:
    from tribes.membership.member import encode_member
    return encode_member(m)


class ThroughputInterceptor(ChannelInterceptor):
    def __init__(self, interval: int = 10000, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.interval = interval
        self.mb_tx = 0.0
        self.mb_app_tx = 0.0
        self.mb_rx = 0.0
        self.time_tx = 0.0
        self.msg_tx_cnt = 1  # Tomcat starts this counter at 1
        self.msg_rx_cnt = 0
        self.msg_tx_err = 0
        self._access = 0
        self._tx_start = 0.0
        self._rx_start = 0.0
        self._last_cnt = 0.0

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        self._access += 1
        if self._access == 1:
            self._tx_start = time.monotonic()
        size = _frame_length(msg)
        try:
            await super().send_message(destination, msg, payload)
        except ChannelException:
            self.msg_tx_err += 1
            self._access -= 1
            raise
        self.mb_tx += size * len(destination) / _MB
        self.mb_app_tx += size / _MB
        self._access -= 1
        if self._access == 0:
            self.time_tx += time.monotonic() - self._tx_start
            if self.msg_tx_cnt / float(self.interval) >= self._last_cnt:
                self._last_cnt += 1
                self.report()
        self.msg_tx_cnt += 1

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if self._rx_start == 0:
            self._rx_start = time.monotonic()
        self.mb_rx += _frame_length(msg) / _MB
        self.msg_rx_cnt += 1
        if self.msg_rx_cnt % self.interval == 0:
            self.report()
        return super().message_received(msg)

    def report(self) -> dict[str, float]:
        rx_elapsed = time.monotonic() - self._rx_start if self._rx_start else 0.0
        stats = {
            "tx_msgs": self.msg_tx_cnt, "tx_mb": self.mb_tx, "app_tx_mb": self.mb_app_tx,
            "tx_time_s": self.time_tx, "tx_mb_s": self.mb_tx / self.time_tx if self.time_tx > 0 else 0.0,
            "tx_errors": self.msg_tx_err, "rx_msgs": self.msg_rx_cnt, "rx_mb": self.mb_rx,
            "rx_mb_s": self.mb_rx / rx_elapsed if rx_elapsed > 0 else 0.0,
        }
        log.info("ThroughputInterceptor report: tx %(tx_msgs)d msgs %(tx_mb).2f MB (%(tx_mb_s).2f MB/s), "
                 "%(tx_errors)d errors; rx %(rx_msgs)d msgs %(rx_mb).2f MB (%(rx_mb_s).2f MB/s)", stats)
        return stats
