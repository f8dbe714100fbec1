"""``SessionKeeper``: a cluster member that holds every session of its contexts and persists them.

Tomcat has no such node. The keeper is a DeltaManager member (a ``SimpleTcpCluster`` that follows
every context) plus a durable :class:`~tribes.keeper.store.SessionStore`:

* **What is persisted.** After every SessionMessage the keeper applies, the sessions it touched are
  marked dirty (``(context, id)``); a flush writes each dirty session as it is in memory now (or
  deletes its row when the session is gone: expired, invalidated, renamed away). Marking by id,
  not by listener event, means nothing depends on ``notifyListenersOnReplication`` and friends.
* **Durability follows the sender's options.** A message sent with ``SYNCHRONIZED_ACK`` (options 6)
  is ACKed only after the flush that holds its change has committed (group commit: every message
  waiting at that moment shares one fsync). If the commit fails (a full disk) the message gets a
  FAIL_ACK, so the sender fails at once instead of waiting for its timeout; the keeper never ACKs
  what it could not persist. Asynchronous messages are batched: flushed at most ``async_delay``
  seconds (default 0.2) after their change, so a crash of the keeper loses at most that window.
* **Expiry across restarts.** Loading skips (and deletes) sessions whose idle time ran out while
  everything was down; loaded sessions keep their last-access time (no fresh interval). Before it
  serves a state transfer the keeper expires what is due, because Tomcat calls ``access()`` on every
  session it receives and would otherwise give an expired session a new life.
* **Reconciling.** A keeper that starts into a live cluster takes the cluster's state (the newer of
  its copy and the cluster's, by last access) and drops stored sessions the cluster no longer has
  (they were invalidated or expired while the keeper was down). A keeper that starts alone serves
  its store to the Tomcat nodes that start after it: Tomcat asks its oldest member for the state,
  and a keeper started first is the oldest member, by its honest uptime.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from tribes.keeper.logins import LoginMonitor, LoginPolicy
from tribes.keeper.store import SessionStore, StoreCorruptError, StoredSession, StoreError
from tribes.javaser import JavaSerializationError, ObjectInputStream
from tribes.managers.cluster import SimpleTcpCluster, context_path, now_ms
from tribes.managers.delta_manager import snapshot_session
from tribes.managers.principal import principal_name
from tribes.managers.session_message import (EVT_ALL_SESSION_DATA, EVT_CHANGE_SESSION_ID, EVT_GET_ALL_SESSIONS,
                                             SessionMessage)
from tribes.managers.session_state import SessionState, read_sessions, write_sessions

log = logging.getLogger("tribes.keeper")

__all__ = ["SessionKeeper", "KeeperStats", "stored_session"]


def stored_session(context: str, session: Any, tomcat_version: str) -> StoredSession:
    """The store record of a live session (a DeltaSession or a SessionState)."""
    st = session if isinstance(session, SessionState) else snapshot_session(session)
    state = write_sessions([st], tomcat_version)
    return StoredSession(context, session.id, state, tomcat_version, int(session.last_accessed_time),
                         int(session.max_inactive_interval), principal_name(session.principal))


@dataclass
class KeeperStats:
    """What the keeper did (metrics and the live view read these)."""

    persisted: int = 0            # session rows written
    deleted: int = 0              # session rows removed
    commits: int = 0
    failed_commits: int = 0
    loaded: int = 0
    skipped_expired: int = 0
    last_commit_ms: float = 0.0   # duration of the last commit
    durability_lag_ms: float = 0.0  # oldest change in the last batch -> its commit
    sync_waits: int = 0           # messages ACKed after a commit


class SessionKeeper(SimpleTcpCluster):
    """A ``SimpleTcpCluster`` that follows every context and keeps its sessions in ``store``.

    ``async_delay``: the longest time an asynchronously replicated change waits for its commit.
    Put a :class:`~tribes.keeper.durability.DurableAckInterceptor` in the channel's stack so that
    synchronous messages are ACKed only once durable (``tribes keeper`` does this).
    """

    #: a keeper is told to follow every context (they are invited, not a stranger's): no bound; only
    #: members can make it follow a context at all (docs/faults.md)
    max_followed_contexts: int | None = None

    def __init__(self, channel: Any, store: SessionStore, *, async_delay: float = 0.2,
                 login_policies: dict[str, LoginPolicy] | None = None, **kw: Any) -> None:
        kw.setdefault("follow_all_contexts", True)
        super().__init__(channel, **kw)
        self.store = store
        #: duplicate-login prevention; its policies are keyed by manager name (``localhost#/app``)
        self.logins = LoginMonitor(self, {self.manager_name(k) if "#" not in k else k: v
                                          for k, v in (login_policies or {}).items()})
        self.async_delay = async_delay
        self.stats = KeeperStats()
        self._dirty: dict[tuple[str, str], float] = {}   # (context, id) -> monotonic time first marked
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tribes-keeper-store")
        self._transfer_seen: dict[str, int] = {}         # context -> transfer ids already marked
        self._loaded_ids: dict[str, set[str]] = {}       # context -> ids loaded from the store
        self._closed = False

    # -- loading ------------------------------------------------------------------------------
    def load(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Read the store into memory (before :meth:`start`); expired sessions are dropped.

        Raises :class:`~tribes.keeper.store.StoreCorruptError` when any stored session cannot be
        read: the keeper never serves partial state."""
        now = now_ms()
        total = self.store.count()
        n = 0
        expired: list[tuple[str, str]] = []
        for i, rec in enumerate(self.store.load(), 1):
            if rec.expired(now):
                expired.append((rec.context, rec.id))
            else:
                try:
                    states = read_sessions(rec.state)
                except Exception as exc:
                    raise StoreCorruptError(
                        f"{getattr(self.store, 'path', 'store')}: session {rec.id} of {rec.context} cannot be "
                        f"read ({exc}); the keeper refuses to serve partial state. Move the store aside to "
                        "start empty, or delete that row with the sqlite3 shell") from exc
                dm = self.manager(context_path(rec.context)).delta_manager
                for st in states:
                    dm.install_state(st, now, touch=False)
                    self._loaded_ids.setdefault(rec.context, set()).add(st.id)
                    n += 1
                    if st.principal is not None:
                        self.logins.touched(rec.context, st.id, enforce=False)
            if progress is not None and (i % 1000 == 0 or i == total):
                progress(i, total)
        for ctx, sid in expired:
            self.store.delete(ctx, sid)
        self.store.commit()
        self.stats.loaded = n
        self.stats.skipped_expired = len(expired)
        log.info("keeper: loaded %d sessions from the store (%d expired while down, removed)", n, len(expired))
        return n

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, state_transfer: bool = True) -> None:
        self._wake = asyncio.Event()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        self.add_listener(self._on_event)
        await super().start(state_transfer)
        if not self.channel.members():
            self._loaded_ids.clear()        # alone: the store is the truth, nothing to reconcile with

    async def stop(self) -> None:
        # persist what is pending, then stop persisting: shutting the managers down must not
        # delete the stored sessions (they are meant to outlive this member)
        try:
            await self.flush_store()
        except StoreError as exc:
            log.error("keeper: final flush failed: %s", exc)
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
        await super().stop()
        self._io.shutdown(wait=True)

    # -- marking ------------------------------------------------------------------------------
    def _mark(self, context: str, session_id: str | None) -> None:
        if session_id and not self._closed:
            self._dirty.setdefault((context, session_id), time.monotonic())
            self.logins.touched(context, session_id)

    def _on_event(self, event: Any) -> None:
        # local changes (our own expiry, API calls on this node) and state received
        if event.kind == "state_transfer_complete":
            self._reconcile(event.context)
            return
        self._mark(event.context, event.session_id)
        if event.kind == "id_changed":
            self._mark(event.context, event.old_id)

    def manager(self, path: str, config: Any = None, *, transfer: bool = True) -> Any:
        ctx = super().manager(path, config, transfer=transfer)
        dm = ctx.delta_manager
        dm.transfer_keep_newer = True
        if dm.transfer_ids is None and not self.started:
            dm.transfer_ids = []           # reconciled after the start's state transfer, then dropped
        return ctx

    def deliver(self, smsg: SessionMessage, sender: Any) -> None:
        ctx = smsg.context_name
        if smsg.event_type == EVT_GET_ALL_SESSIONS and ctx in self.managers:
            # Tomcat restarts the idle clock of every session it receives: expire what is due first
            dm = self.managers[ctx]
            dm.process_expires(now_ms())
            self._pump(dm)
            log.info("keeper: serving the %d sessions of %s to %s (state transfer)", len(dm.sessions), ctx,
                     getattr(sender, "name", sender))
        super().deliver(smsg, sender)
        if ctx is None or ctx not in self.managers:
            return
        if smsg.event_type == EVT_ALL_SESSION_DATA:
            ids = self.managers[ctx].transfer_ids
            if ids is not None:
                for sid in ids[self._transfer_seen.get(ctx, 0):]:
                    self._mark(ctx, sid)
                self._transfer_seen[ctx] = len(ids)
            else:                          # a transfer after our start (not expected): persist everything
                for sid in list(self.managers[ctx].sessions):
                    self._mark(ctx, sid)
        else:
            self._mark_message(smsg)

    def enqueue(self, item: Any) -> None:
        # every change made on this node leaves as a message naming its session: persist it too
        self._mark_message(item.message)
        super().enqueue(item)

    def _mark_message(self, msg: SessionMessage) -> None:
        if not msg.session_id or not msg.context_name:
            return
        self._mark(msg.context_name, msg.session_id)
        if msg.event_type == EVT_CHANGE_SESSION_ID and msg.session is not None:
            try:                            # the new id is the payload
                self._mark(msg.context_name, ObjectInputStream(msg.session).read_utf())
            except JavaSerializationError:
                pass                        # the manager refused the message too (and logged why)

    def _reconcile(self, context: str) -> None:
        """After a state transfer from a live member: stored sessions it no longer has are dropped."""
        loaded = self._loaded_ids.pop(context, set())
        dm = self.managers.get(context)
        if dm is None:
            return
        received = set(dm.transfer_ids or ())
        dm.transfer_ids = None
        self._transfer_seen.pop(context, None)
        if not received and not dm.state_transferred:
            return                          # nobody had this context's state: the store is the truth
        gone = [sid for sid in loaded if sid not in received and sid in dm.sessions]
        for sid in gone:
            dm.sessions.pop(sid, None)
            self._mark(context, sid)
        if gone:
            log.info("keeper: %s: %d stored sessions are no longer in the live cluster; dropped", context, len(gone))

    # -- flushing -----------------------------------------------------------------------------
    def durable(self) -> Awaitable[None]:
        """An awaitable that completes when every change made so far is committed (raises on failure)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._dirty:
            fut.set_result(None)
            return fut
        self._waiters.append(fut)
        self.stats.sync_waits += 1
        if self._wake is not None:
            self._wake.set()
        return fut

    def nudge(self) -> None:
        """An asynchronous change happened: make sure a flush comes within ``async_delay``."""
        if self._wake is not None and self._dirty and not self._wake.is_set():
            asyncio.get_running_loop().call_later(self.async_delay, self._wake.set)

    async def flush_store(self) -> None:
        """Commit everything now."""
        await self._flush_once()

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.async_delay if self._dirty else 1.0)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._flush_once()
            except asyncio.CancelledError:
                raise
            except StoreError:
                pass        # logged in _flush_once; the waiters got the error (FAIL_ACK)
            except Exception:
                log.exception("keeper: flush failed")

    async def _flush_once(self) -> None:
        if not self._dirty:
            waiters, self._waiters = self._waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            return
        batch, self._dirty = self._dirty, {}
        waiters, self._waiters = self._waiters, []
        oldest = min(batch.values())
        puts: list[tuple[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for (ctx, sid) in batch:
            dm = self.managers.get(ctx)
            s = dm.sessions.get(sid) if dm is not None else None
            if s is not None and s.is_valid:
                puts.append((ctx, snapshot_session(s)))
            else:
                deletes.append((ctx, sid))
        version = self.tomcat_version
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            await loop.run_in_executor(self._io, self._write_batch, puts, deletes, version)
        except StoreError as exc:
            self.stats.failed_commits += 1
            # keep the changes dirty: the next flush retries them
            for k, v in batch.items():
                self._dirty.setdefault(k, v)
            log.error("keeper: could not persist %d changes: %s. Synchronous senders get FAIL_ACK until "
                      "this is fixed", len(batch), exc)
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            raise
        self.stats.commits += 1
        self.stats.persisted += len(puts)
        self.stats.deleted += len(deletes)
        self.stats.last_commit_ms = (time.perf_counter() - t0) * 1000
        self.stats.durability_lag_ms = (time.monotonic() - oldest) * 1000
        log.debug("keeper: committed %d sessions, %d deletions in %.1f ms", len(puts), len(deletes),
                  self.stats.last_commit_ms)
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _write_batch(self, puts: list[tuple[str, Any]], deletes: list[tuple[str, str]], version: str) -> None:
        try:
            for ctx, st in puts:
                self.store.put(stored_session(ctx, st, version))
            for ctx, sid in deletes:
                self.store.delete(ctx, sid)
            self.store.commit()
        except StoreError:
            self.store.rollback()
            raise
