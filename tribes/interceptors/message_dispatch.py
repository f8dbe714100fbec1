"""MessageDispatchInterceptor: asynchronous sends (``SEND_OPTIONS_ASYNCHRONOUS``, bit 0x08).

A message with the async bit is copied and queued; ``send`` returns at once and worker tasks
(``max_threads``, Tomcat's thread pool) send it further down. The queue is bounded by the total
payload size ``max_queue_size`` (64 MiB): when full, ``always_send=True`` (Tomcat's default) sends
synchronously instead, ``always_send=False`` raises ``ChannelException``. Failures of queued sends go
to the sender's ``ErrorHandler`` if one was given, else they are logged (Tomcat logs them at debug
level only; here at warning, rate-limited) and counted in ``failed``. Several workers mean async
messages may be reordered, as in Tomcat (use OrderInterceptor above this one for ordering).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any, Sequence

from tribes.channel import (SND_TX_SEQ, ChannelException, ChannelInterceptor, ErrorHandler, InterceptorPayload,
                            SendOptions, UniqueId)
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member

log = logging.getLogger("tribes.interceptors")
_ASYNC = int(SendOptions.ASYNCHRONOUS)  # plain int on the per-message path


__all__ = ["MessageDispatchInterceptor"]


class MessageDispatchInterceptor(ChannelInterceptor):
    default_option_flag = int(SendOptions.ASYNCHRONOUS)

    def __init__(self, max_queue_size: int = 64 * 1024 * 1024, always_send: bool = True,
                 use_deep_clone: bool = True, max_threads: int = 10, max_spare_threads: int = 2,
                 keep_alive_time: int = 5000, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        if self.option_flag != SendOptions.ASYNCHRONOUS:
            log.warning("MessageDispatchInterceptor: option flag %#x is not SEND_OPTIONS_ASYNCHRONOUS (8); "
                        "Tomcat warns about this too", self.option_flag)
        self.max_queue_size = max_queue_size
        self.always_send = always_send
        self.use_deep_clone = use_deep_clone
        self.max_threads = max_threads
        self.max_spare_threads = max_spare_threads
        self.keep_alive_time = keep_alive_time
        self.current_size = 0
        self.run = False
        self.failed = 0
        self.sent = 0
        self._queue: asyncio.Queue[tuple[ChannelData, Sequence[Member], InterceptorPayload | None]] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._last_warning = 0.0

    def set_option_flag(self, flag: int) -> None:
        if flag != SendOptions.ASYNCHRONOUS:
            log.warning("MessageDispatchInterceptor: option flag should be 8 (asynchronous)")
        super().set_option_flag(flag)

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        if (msg.options & _ASYNC) and self.run and self._queue is not None:
            size = len(msg.message)
            if self.current_size + size > self.max_queue_size:
                if self.always_send:
                    await super().send_message(destination, msg, payload)
                    return
                raise ChannelException(f"asynchronous queue is full ({self.max_queue_size} bytes, "
                                       f"{self.current_size} in use)")
            if self.use_deep_clone:
                msg = copy.copy(msg)
            self.current_size += size
            self._queue.put_nowait((msg, list(destination), payload))
            return
        await super().send_message(destination, msg, payload)

    async def start(self, svc: int) -> None:
        if not self.run and (svc & SND_TX_SEQ):
            self.start_queue()
        await super().start(svc)

    async def stop(self, svc: int) -> None:
        if self.run and (svc & SND_TX_SEQ):
            await self.stop_queue()
        await super().stop(svc)

    def start_queue(self) -> None:
        if self.run:
            return
        self._queue = asyncio.Queue()
        self._workers = [asyncio.ensure_future(self._worker()) for _ in range(max(1, self.max_threads))]
        self.run = True

    async def stop_queue(self) -> None:
        self.run = False
        workers, self._workers = self._workers, []
        for w in workers:
            w.cancel()
        for w in workers:
            try:
                await w
            except (asyncio.CancelledError, Exception):
                pass
        self._queue = None
        self.current_size = 0

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty and nothing is in flight, then flush below (not in Tomcat)."""
        deadline = time.monotonic() + timeout
        while self.current_size > 0 or (self._queue is not None and not self._queue.empty()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return await super().flush(max(0.0, deadline - time.monotonic()))

    async def _worker(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            msg, destination, payload = await queue.get()
            handler = payload.error_handler if payload is not None else None
            try:
                await ChannelInterceptor.send_message(self, destination, msg, None)
                self.sent += 1
                if handler is not None:
                    _call(handler, "handle_completion", msg.unique_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed += 1
                cx = exc if isinstance(exc, ChannelException) else ChannelException(str(exc), cause=exc)
                if handler is not None:
                    _call(handler, "handle_error", cx, msg.unique_id)
                else:
                    now = time.monotonic()
                    if now - self._last_warning > 5.0:
                        self._last_warning = now
                        log.warning("asynchronous message %s failed: %s", msg.unique_id.hex(), cx)
            finally:
                self.current_size -= len(msg.message)


def _call(handler: ErrorHandler, name: str, *args: Any) -> None:
    fn = getattr(handler, name, None)
    if fn is None:
        return
    try:
        args = tuple(UniqueId(a) if isinstance(a, bytes) and len(a) == 16 else a for a in args)
        fn(*args)
    except Exception:
        log.exception("error handler %s failed", name)
