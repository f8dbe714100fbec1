"""TCP reassembly, one direction of one connection at a time (sans-I/O).

Segments may arrive retransmitted, overlapping or out of order; ``TcpStream.segment`` returns the
bytes that became contiguous. 32-bit sequence numbers wrap. A capture that starts in the middle of a
connection starts at the first segment seen. Out-of-order data is held up to ``max_pending`` bytes;
beyond that the hole is declared lost (``gaps``) and delivery continues after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MOD = 1 << 32
DEFAULT_MAX_PENDING = 64 * 1024 * 1024


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space (signed, wrap-aware)."""
    d = (a - b) % MOD
    return d - MOD if d >= MOD // 2 else d


@dataclass
class TcpStream:
    """One direction of a TCP connection."""

    max_pending: int = DEFAULT_MAX_PENDING
    next_seq: int | None = None
    saw_syn: bool = False
    closed: bool = False
    pending: dict[int, bytes] = field(default_factory=dict)
    pending_bytes: int = 0
    delivered: int = 0
    gaps: list[int] = field(default_factory=list)  # sizes of holes given up on

    def syn(self, seq: int) -> None:
        if self.next_seq is None or not self.saw_syn:
            self.next_seq = (seq + 1) % MOD
            self.saw_syn = True

    def fin(self) -> None:
        self.closed = True

    def segment(self, seq: int, payload: bytes) -> list[bytes]:
        """Add one segment; returns the newly contiguous byte runs, in order."""
        if not payload:
            return []
        if self.next_seq is None:
            self.next_seq = seq
        out: list[bytes] = []
        d = seq_diff(seq, self.next_seq)
        if d <= 0:
            if -d >= len(payload):
                return []  # retransmission of bytes already delivered
            payload = payload[-d:]
            out.append(payload)
            self._advance(len(payload))
            out.extend(self._drain())
        else:
            old = self.pending.get(seq)
            if old is None or len(old) < len(payload):
                self.pending_bytes += len(payload) - (len(old) if old else 0)
                self.pending[seq] = payload
            if self.pending_bytes > self.max_pending:
                out.extend(self.skip_gap())
        return out

    def _advance(self, n: int) -> None:
        self.next_seq = (self.next_seq + n) % MOD  # type: ignore[operator]
        self.delivered += n

    def _drain(self) -> list[bytes]:
        out: list[bytes] = []
        progress = True
        while progress and self.pending:
            progress = False
            for seq in list(self.pending):
                d = seq_diff(seq, self.next_seq)  # type: ignore[arg-type]
                if d > 0:
                    continue
                data = self.pending.pop(seq)
                self.pending_bytes -= len(data)
                if -d < len(data):
                    chunk = data[-d:]
                    out.append(chunk)
                    self._advance(len(chunk))
                progress = True
        return out

    def skip_gap(self) -> list[bytes]:
        """Give up on the hole before the earliest pending segment; returns what then becomes contiguous."""
        if not self.pending:
            return []
        first = min(self.pending, key=lambda s: seq_diff(s, self.next_seq))  # type: ignore[arg-type]
        hole = seq_diff(first, self.next_seq)  # type: ignore[arg-type]
        self.gaps.append(hole)
        self.next_seq = first
        return self._drain()
