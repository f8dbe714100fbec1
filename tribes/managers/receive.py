"""What a ``SimpleTcpCluster`` accepts from the network, and where it decodes it (issue 19).

Tomcat trusts its cluster network completely; a Python node is stricter wherever that costs
nothing:

* **state only to members**: a GET_ALL_SESSIONS from a sender that is not (yet) a member of the
  channel is held up to ``STATE_REQUEST_WAIT`` seconds (a node that just started may send it
  before its first heartbeat reached us) and answered only once the sender is a member; else it is
  dropped with a rate-limited log line. At most ``MAX_WAITING_STATE_REQUESTS`` wait at once.
* **contexts followed uninvited are bounded**: with ``follow_all_contexts`` (``tribes join
  --config``), a message naming a context we do not manage makes a DeltaManager for it, at most
  ``SimpleTcpCluster.max_followed_contexts`` of them (default 100; ``None`` = no bound, for a node
  told to follow everything, such as a session keeper) and only for messages from members.
  Contexts registered with ``cluster.manager(path)`` (named in the configuration) are invited
  and never count.
* **decoding off the event loop**: the payload of a DELTA or ALL_SESSION_DATA of
  ``OFFLOAD_BYTES`` or more is decoded in a worker thread (``asyncio.to_thread``); the receiver
  keeps the connection's messages in order while it waits, and ACKs and heartbeats to every other
  peer go on. (The channel decodes large top-level messages the same way: tribes.group.channel.)
* every log line a peer can cause here is rate-limited (``tribes.ratelimit.RateLimitedLog``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable

from tribes.io.member import Member
from tribes.managers.delta_request import DeltaRequest, DeltaRequestError
from tribes.managers.session_message import (EVT_ALL_SESSION_DATA, EVT_GET_ALL_SESSIONS, EVT_SESSION_DELTA,
                                             SessionMessage, SessionMessageError)
from tribes.managers.session_state import SessionStateError, read_sessions
from tribes.ratelimit import RateLimitedLog

if TYPE_CHECKING:
    from tribes.managers.cluster import SimpleTcpCluster

log = logging.getLogger("tribes.managers")
_rl = RateLimitedLog(log)

#: payloads (DELTA / ALL_SESSION_DATA) of this many bytes or more are decoded in a worker thread
OFFLOAD_BYTES = 64 * 1024
#: how long a state request from a not-yet-member may wait for its membership (seconds)
STATE_REQUEST_WAIT = 5.0
#: state requests waiting for their sender's membership at once (more are dropped)
MAX_WAITING_STATE_REQUESTS = 32
#: the default bound of contexts followed uninvited (SimpleTcpCluster.max_followed_contexts)
DEFAULT_MAX_FOLLOWED_CONTEXTS = 100

__all__ = ["ReceiveGuard", "guard", "OFFLOAD_BYTES", "STATE_REQUEST_WAIT", "DEFAULT_MAX_FOLLOWED_CONTEXTS"]


def _name(sender: Member | None) -> str:
    return str(getattr(sender, "name", sender))


class ReceiveGuard:
    """The receive-side checks of one cluster (made on first use: ``guard(cluster)``)."""

    def __init__(self, cluster: "SimpleTcpCluster") -> None:
        self.cluster = cluster
        #: contexts a DeltaManager was made for because a message named them (follow_all_contexts)
        self.followed: set[str] = set()
        self.refused_state_requests = 0
        self.refused_contexts = 0
        self.offloaded = 0
        self._waiting = 0

    # -- membership ---------------------------------------------------------------------------
    def is_member(self, sender: Member | None) -> bool:
        if sender is None:
            return False
        try:
            return sender in self.cluster.channel.members()
        except Exception:  # noqa: BLE001 - a channel that cannot tell: be strict
            return False

    # -- receiving ----------------------------------------------------------------------------
    def message_received(self, msg: Any, sender: Member | None) -> Awaitable[None] | None:
        """ClusterSessionListener.messageReceived: decode, check, deliver (maybe in a worker)."""
        cluster = self.cluster
        try:
            smsg = SessionMessage.from_java(msg, sender)
        except SessionMessageError as exc:
            cluster.bad_messages += 1
            _rl.warn("bad-session-message", "dropped a cluster message from %s: %s", _name(sender), exc)
            return None
        payload = smsg.session
        if (payload is not None and len(payload) >= OFFLOAD_BYTES
                and smsg.event_type in (EVT_SESSION_DELTA, EVT_ALL_SESSION_DATA)):
            self.offloaded += 1
            return self._decode_then_deliver(smsg, sender)
        cluster.deliver(smsg, sender)
        return None

    async def _decode_then_deliver(self, smsg: SessionMessage, sender: Member | None) -> None:
        await asyncio.to_thread(predecode, smsg)
        self.cluster.deliver(smsg, sender)

    def admit(self, smsg: SessionMessage, sender: Member | None) -> bool:
        """False when ``smsg`` must not be delivered now (a state request from a non-member)."""
        if smsg.event_type != EVT_GET_ALL_SESSIONS or self.is_member(sender):
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to wait on (a synchronous caller): refuse at once
            loop = None
        if loop is None or self._waiting >= MAX_WAITING_STATE_REQUESTS:
            self.refused_state_requests += 1
            _rl.warn("state-request-nonmember", "refused GET_ALL_SESSIONS for %s from %s: not a member of the "
                     "cluster (session state is sent to members only)", smsg.context_name, _name(sender))
            return False
        self._waiting += 1
        loop.create_task(self._wait_for_member(smsg, sender))
        return False

    async def _wait_for_member(self, smsg: SessionMessage, sender: Member | None) -> None:
        try:
            end = time.monotonic() + STATE_REQUEST_WAIT
            while time.monotonic() < end:
                await asyncio.sleep(0.25)
                if self.is_member(sender):
                    self.cluster.deliver(smsg, sender)
                    return
            self.refused_state_requests += 1
            _rl.warn("state-request-nonmember", "refused GET_ALL_SESSIONS for %s from %s: not a member of the "
                     "cluster within %.0f s (session state is sent to members only)", smsg.context_name,
                     _name(sender), STATE_REQUEST_WAIT)
        finally:
            self._waiting -= 1

    def may_follow(self, smsg: SessionMessage, sender: Member | None) -> bool:
        """Whether a DeltaManager may be made for the uninvited context ``smsg`` names."""
        cluster = self.cluster
        name = smsg.context_name
        if name is None:
            return False
        limit = getattr(cluster, "max_followed_contexts", DEFAULT_MAX_FOLLOWED_CONTEXTS)
        if not self.is_member(sender):
            self.refused_contexts += 1
            _rl.warn("follow-nonmember", "not following context %r named by %s: not a member of the cluster",
                     name, _name(sender))
            return False
        followed = len(self.followed & cluster.managers.keys())
        if limit is not None and followed >= limit:
            self.refused_contexts += 1
            _rl.warn("follow-limit", "not following context %r named by %s: %d contexts followed uninvited "
                     "already (max_followed_contexts=%d; name the context in the configuration to invite it)",
                     name, _name(sender), followed, limit)
            return False
        self.followed.add(name)
        return True

    def no_manager(self, smsg: SessionMessage, sender: Member | None) -> None:
        _rl.warn("no-manager", "no manager for context %r: %s from %s dropped", smsg.context_name,
                 smsg.event_type_string, _name(sender))


def predecode(smsg: SessionMessage) -> None:
    """Decode a DELTA / ALL_SESSION_DATA payload into ``smsg.decoded`` (safe in a worker thread:
    it touches nothing but the message). A payload that does not decode leaves the error there,
    for the manager to report as usual (not decoded a second time)."""
    try:
        if smsg.event_type == EVT_SESSION_DELTA and smsg.session is not None:
            smsg.decoded = DeltaRequest.deserialize(smsg.session)
        elif smsg.event_type == EVT_ALL_SESSION_DATA and smsg.session is not None:
            smsg.decoded = read_sessions(smsg.session)
    except (DeltaRequestError, SessionStateError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
        smsg.decoded = exc


def guard(cluster: "SimpleTcpCluster") -> ReceiveGuard:
    g: ReceiveGuard | None = cluster.__dict__.get("_receive_guard")
    if g is None:
        g = cluster.__dict__["_receive_guard"] = ReceiveGuard(cluster)
    return g
