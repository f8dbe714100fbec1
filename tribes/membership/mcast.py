"""``McastService``: multicast membership, byte- and behaviour-compatible with Tomcat's.

A thin asyncio adapter over the pure parts (member codec, :class:`Membership` table):

* sends this node's heartbeat every ``frequency`` ms to ``address:port`` (one at once when
  ``MBR_TX`` starts), receives the others', keeps the table and expires members silent for
  longer than ``drop_time`` ms (checked after every receive, every send, and at least every
  ``so_timeout`` ms, which is what Tomcat's socket timeout achieves);
* ``bind`` (an address or an interface name, resolved with netifaces) selects the multicast
  interface, is where the group is joined, and makes the socket bind to ``(group, port)``
  like Tomcat (falling back to the port alone); ``ttl`` and ``local_loopback_disabled`` map to
  ``IP_MULTICAST_TTL`` / ``IP_MULTICAST_LOOP``;
* on the last stop level it sends the shutdown heartbeat (command ``BABY-ALEX``) so peers drop
  the node at once, leaves the group and closes the socket;
* ``recovery_counter`` consecutive socket errors (send or receive) start one recovery: stop
  (with the shutdown heartbeat), re-open, restart, retrying every ``recovery_sleep_time`` ms;
* malformed, truncated and foreign-domain packets change nothing and are logged in one line,
  rate-limited (unlike Tomcat, garbage never counts towards recovery);
* datagrams that do not start with ``TRIBES-B\\x01\\x00`` are multicast channel messages:
  they are handed to the ``message_callback`` (the channel decodes the frames).

``McastService.from_attributes`` takes ``<Membership className="...McastService" .../>``
attributes with server.xml's camelCase names and Tomcat's defaults.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import ipaddress
import logging
import socket
import struct
import time
from typing import Any, Callable, Mapping

from tribes.attributes import kwargs_from_attributes
from tribes.membership.member import (
    SHUTDOWN_PAYLOAD, TRIBES_MBR_BEGIN, Member, MemberDecodeError, decode_member, encode_member,
)
from tribes.membership.membership import MemberEvent
from tribes.ratelimit import RateLimitedLog
from tribes.membership.service import MBR_ALL, MBR_RX, MBR_TX, MembershipError, MembershipService

__all__ = [
    "McastService", "McastConfigError", "resolve_bind", "RateLimitedLog", "parse_byte_literal",
    "MAX_PACKET_SIZE", "MCAST_ATTRIBUTES",
]

log = logging.getLogger("tribes.membership.mcast")

MAX_PACKET_SIZE = 65535  # McastServiceImpl.MAX_PACKET_SIZE
RECEIVE_ERROR_SLEEP = 0.5  # Tomcat sleeps 500 ms after a receive error


class McastConfigError(MembershipError, ValueError):
    """A McastService attribute is unknown, unsupported or has a bad value."""


def parse_byte_literal(text: str) -> bytes:
    """Tomcat's ``Arrays.fromString``: ``{1,2,-3}`` -> signed decimal bytes (no spaces allowed)."""
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a byte literal {text!r}: expected {{b0,b1,...}}")
    inner = text[1:-1]
    if inner == "":
        return b""
    out = bytearray()
    for part in inner.split(","):
        if part != part.strip() or not part:
            raise ValueError(f"byte literal {text!r}: no spaces or empty items (Tomcat's Byte.parseByte does not trim)")
        value = int(part, 10)
        if not -128 <= value <= 127:
            raise ValueError(f"byte literal {text!r}: {value} is outside -128..127")
        out.append(value & 0xFF)
    return bytes(out)


def _domain_bytes(value: str | bytes | None) -> bytes:
    """Tomcat's ``setDomain(String)``: ``{..}`` byte literal, else ISO-8859-1 of the string."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if value.startswith("{"):
        return parse_byte_literal(value)
    return value.encode("iso-8859-1")


def resolve_bind(bind: str, family: int = socket.AF_INET) -> tuple[str, str | None]:
    """``bind`` (an IP address or an interface name) -> (address, interface name or None).

    Interface names are resolved with netifaces to their first address of ``family``.
    """
    try:
        ipaddress.ip_address(bind)
        return bind, _iface_of(bind)
    except ValueError:
        pass
    import netifaces

    if bind in netifaces.interfaces():
        addrs = netifaces.ifaddresses(bind).get(family) or []
        if not addrs:
            fam = "IPv4" if family == socket.AF_INET else "IPv6"
            raise McastConfigError(f"bind={bind!r}: interface has no {fam} address; give an address instead")
        return addrs[0]["addr"].split("%")[0], bind
    try:
        info = socket.getaddrinfo(bind, None, family, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise McastConfigError(
            f"bind={bind!r} is neither an IP address nor an interface name "
            f"(interfaces: {', '.join(netifaces.interfaces())}) nor a resolvable host: {exc}") from exc
    addr = str(info[0][4][0])
    return addr, _iface_of(addr)


def _iface_of(addr: str) -> str | None:
    try:
        import netifaces
    except ImportError:  # pragma: no cover
        return None
    for name in netifaces.interfaces():
        for fam in (netifaces.AF_INET, netifaces.AF_INET6):
            for a in netifaces.ifaddresses(name).get(fam, []):
                if a.get("addr", "").split("%")[0] == addr:
                    return name
    return None


#: McastService's server.xml attributes: every setter Tomcat's McastService has (9.0 and 10.1 alike;
#: ``mcastDropTime`` and ``mcastBindAddress`` are its aliases of ``dropTime`` and ``bind``). Names map to
#: parameters through tribes.attributes, as everywhere.
MCAST_ATTRIBUTES = ("address", "port", "frequency", "dropTime", "mcastDropTime", "bind", "mcastBindAddress", "ttl",
                    "soTimeout", "domain", "payload", "localLoopbackDisabled", "recoveryEnabled", "recoveryCounter",
                    "recoverySleepTime")
# Accepted and ignored on purpose: the element's class name (read by the config layer).
_IGNORED_ATTRIBUTES = {"className"}


class McastService(MembershipService):
    """Multicast membership (Tomcat's ``org.apache.catalina.tribes.membership.McastService``).

    Times are in milliseconds like Tomcat's attributes. ``ttl=None`` leaves the OS default
    (1); ``so_timeout=None`` (or <= 0) means "= frequency". Python-only options:
    ``filter_domain`` (drop heartbeats whose domain differs from ours, logged; Tomcat's
    McastService keeps them and leaves filtering to DomainFilterInterceptor),
    ``announce_uptime`` (False announces alive 0 so this node never sorts first and is never
    asked for session state), ``wait_for_members`` (sleep 2 x frequency after each start level
    like Tomcat's ``waitForMembers``), ``message_callback`` (multicast channel messages).
    """

    def __init__(self, address: str = "228.0.0.4", port: int = 45564, frequency: int = 500,
                 drop_time: int = 3000, bind: str | None = None, ttl: int | None = None,
                 so_timeout: int | None = None, domain: bytes | str = b"", payload: bytes | str = b"",
                 local_loopback_disabled: bool = False, recovery_enabled: bool = True,
                 recovery_counter: int = 10, recovery_sleep_time: int = 5000, *,
                 filter_domain: bool = True, announce_uptime: bool = True,
                 wait_for_members: bool = True,
                 message_callback: Callable[[bytes, tuple[Any, ...]], None] | None = None) -> None:
        super().__init__()
        self.address = address
        self.port = int(port)
        self.frequency = int(frequency)
        self.drop_time = int(drop_time)
        self.bind = bind
        self.ttl = ttl
        self.so_timeout = so_timeout
        self.domain = _domain_bytes(domain)
        self.payload = _domain_bytes(payload)
        self.local_loopback_disabled = bool(local_loopback_disabled)
        self.recovery_enabled = bool(recovery_enabled)
        self.recovery_counter = int(recovery_counter)
        self.recovery_sleep_time = int(recovery_sleep_time)
        self.filter_domain = filter_domain
        self.announce_uptime = announce_uptime
        self.wait_for_members = wait_for_members
        self.message_callback = message_callback
        self._message_listener: Any | None = None
        self._validate()

        self.bad_packets = RateLimitedLog(log)
        self.stats: dict[str, int] = {
            "sent": 0, "received": 0, "member_packets": 0, "broadcasts": 0, "own": 0,
            "malformed": 0, "foreign_domain": 0, "send_errors": 0, "receive_errors": 0,
            "recovery_attempts": 0, "recoveries": 0,
        }
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._reading = False
        self._start_mono: float | None = None
        self._send_errors = 0
        self._recv_errors = 0
        self._recv_paused_until = 0.0
        self.bind_address: str | None = None
        self.bind_interface: str | None = None

    # ------------------------------------------------------------ configuration
    def _validate(self) -> None:
        try:
            group = ipaddress.ip_address(self.address)
        except ValueError as exc:
            raise McastConfigError(f"address={self.address!r} is not an IP address") from exc
        if not group.is_multicast:
            raise McastConfigError(f"address={self.address!r} is not a multicast group (224.0.0.0/4 or ff00::/8)")
        if not 1 <= self.port <= 65535:
            raise McastConfigError(f"port={self.port} is outside 1..65535")
        if self.frequency <= 0:
            raise McastConfigError(f"frequency={self.frequency} must be > 0 ms")
        if self.drop_time <= 0:
            raise McastConfigError(f"dropTime={self.drop_time} must be > 0 ms")
        if self.ttl is not None and not -1 <= int(self.ttl) <= 255:
            raise McastConfigError(f"ttl={self.ttl} is outside 0..255")
        if self.recovery_counter < 1:
            raise McastConfigError(f"recoveryCounter={self.recovery_counter} must be >= 1")
        if len(self.payload) > MAX_PACKET_SIZE - 200:
            raise McastConfigError(f"payload of {len(self.payload)} bytes does not fit a {MAX_PACKET_SIZE}-byte packet")

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], **python_options: Any) -> "McastService":
        """Build from server.xml attributes (camelCase, strings), Tomcat's defaults for the rest.

        Unknown attributes raise :class:`McastConfigError` naming the accepted ones.
        """
        for name in attributes:
            if name not in MCAST_ATTRIBUTES and name not in _IGNORED_ATTRIBUTES:
                raise McastConfigError(f"McastService attribute {name!r} is not supported; accepted: "
                                       f"{', '.join(sorted(MCAST_ATTRIBUTES))}")
        try:
            kwargs = kwargs_from_attributes(cls, attributes, ignore=_IGNORED_ATTRIBUTES)
        except ValueError as exc:
            raise McastConfigError(f"McastService attribute {exc}") from exc
        if kwargs.get("ttl", 0) is not None and kwargs.get("ttl", 0) < 0:
            kwargs["ttl"] = None  # Tomcat: a negative TTL is "not set"
        if kwargs.get("so_timeout") is not None and kwargs["so_timeout"] <= 0:
            kwargs["so_timeout"] = None
        kwargs.update(python_options)
        try:
            return cls(**kwargs)
        except McastConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise McastConfigError(f"McastService: {exc}") from exc

    @property
    def effective_so_timeout(self) -> int:
        """Tomcat: ``soTimeout <= 0`` means the frequency."""
        return self.so_timeout if self.so_timeout and self.so_timeout > 0 else self.frequency

    def set_local_member(self, host: bytes, port: int, secure_port: int = -1, udp_port: int = -1,
                         domain: bytes = b"", payload: bytes = b"",
                         unique_id: bytes | None = None) -> Member:
        # The service's own domain/payload win when set (Tomcat copies them at start()).
        return super().set_local_member(host, port, secure_port, udp_port,
                                        domain or self.domain, payload or self.payload, unique_id)

    # ------------------------------------------------------------ lifecycle
    def alive_ms(self) -> int:
        if not self.announce_uptime or self._start_mono is None:
            return 0
        return int((time.monotonic() - self._start_mono) * 1000)

    async def start(self, level: int = MBR_ALL) -> None:
        if level & MBR_ALL == 0:
            raise ValueError("start level must include MBR_RX (4) and/or MBR_TX (8)")
        if level & MBR_RX and self.start_level & MBR_RX:
            raise MembershipError("McastService receive already running")
        if level & MBR_TX and self.start_level & MBR_TX:
            raise MembershipError("McastService send already running")
        local = self.local_member  # raises a clear error when missing
        if self.domain and local.domain != self.domain or self.payload and local.payload != self.payload:
            self._replace_local(dataclasses.replace(local, domain=self.domain or local.domain,
                                                    payload=self.payload or local.payload))
        self._loop = asyncio.get_running_loop()
        if self._sock is None:
            if self._start_mono is None:
                self._start_mono = time.monotonic()
            self._open_socket()
        if level & MBR_RX:
            self._start_reading()
            self.start_level |= MBR_RX
        if level & MBR_TX:
            self._send_heartbeat()  # "make sure at least one packet gets out there"
            self.start_level |= MBR_TX
            self._sender = asyncio.ensure_future(self._send_loop())
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick_loop())
        if self.wait_for_members:
            await asyncio.sleep(2 * self.frequency / 1000.0)

    async def stop(self, level: int = MBR_ALL) -> None:
        if level & MBR_ALL == 0:
            raise ValueError("stop level must include MBR_RX (4) and/or MBR_TX (8)")
        if level & MBR_RX:
            self._stop_reading()
        if level & MBR_TX and self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self.start_level &= ~level
        if self.start_level == 0:
            if self._recovery is not None and self._recovery is not asyncio.current_task():
                self._recovery.cancel()
                self._recovery = None
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None
            self._close_socket(send_shutdown=True)
            self._start_mono = None
            self.membership.reset()  # a stopped service has no members (Tomcat drops its impl)
            self._close_events()

    # ------------------------------------------------------------ socket
    def _family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET

    def _open_socket(self) -> None:
        family = self._family()
        sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            bind_addr = iface = None
            if self.bind:
                bind_addr, iface = resolve_bind(self.bind, family)
            self.bind_address, self.bind_interface = bind_addr, iface
            if bind_addr is not None:
                log.info("binding the multicast socket to [%s:%d]", self.address, self.port)
                try:
                    sock.bind((self.address, self.port))
                except OSError:
                    log.info("binding to the multicast address failed; binding to the port only")
                    sock.bind(("" if family == socket.AF_INET else "::", self.port))
            else:
                sock.bind(("" if family == socket.AF_INET else "::", self.port))
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP,
                                0 if self.local_loopback_disabled else 1)
                if bind_addr is not None:
                    log.info("multicast interface: %s (%s)", bind_addr, iface or "?")
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bind_addr))
                if self.ttl is not None and self.ttl >= 0:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(self.ttl))
                mreq = socket.inet_aton(self.address) + socket.inet_aton(bind_addr or "0.0.0.0")
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                except OSError as exc:
                    raise MembershipError(
                        f"unable to join multicast group {self.address} on {bind_addr or 'the default interface'}: "
                        f"{exc}; make sure the interface is up, has multicast on and a route for 224.0.0.0/4") from exc
            else:
                ifindex = socket.if_nametoindex(iface) if iface else 0
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP,
                                0 if self.local_loopback_disabled else 1)
                if ifindex:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
                if self.ttl is not None and self.ttl >= 0:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, int(self.ttl))
                mreq6 = socket.inet_pton(socket.AF_INET6, self.address) + struct.pack("@I", ifindex)
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6)
                except OSError as exc:
                    raise MembershipError(f"unable to join multicast group {self.address}: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _close_socket(self, send_shutdown: bool) -> None:
        sock = self._sock
        if sock is None:
            return
        self._stop_reading()
        if send_shutdown:
            try:
                self._sendto(encode_member(self._heartbeat_member(SHUTDOWN_PAYLOAD)))
            except OSError as exc:
                log.debug("could not send the shutdown heartbeat: %s", exc)
        try:
            if self._family() == socket.AF_INET:
                mreq = socket.inet_aton(self.address) + socket.inet_aton(self.bind_address or "0.0.0.0")
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
        except OSError:
            pass
        sock.close()
        self._sock = None

    def _start_reading(self) -> None:
        if not self._reading and self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self._sock is not None and self._loop is not None:
            try:
                self._loop.remove_reader(self._sock.fileno())
            except (ValueError, OSError):
                pass
        self._reading = False

    def _sendto(self, data: bytes) -> None:
        if self._sock is None:
            raise OSError("multicast socket is closed")
        self._sock.sendto(data, (self.address, self.port))

    # ------------------------------------------------------------ sending
    def _heartbeat_member(self, command: bytes = b"") -> Member:
        return dataclasses.replace(self.local_member, alive=self.alive_ms(), command=command)

    def _send_heartbeat(self) -> None:
        """One heartbeat now; socket errors count towards recovery (Tomcat's SenderThread)."""
        try:
            self._sendto(encode_member(self._heartbeat_member()))
        except OSError as exc:
            self.stats["send_errors"] += 1
            if self._send_errors == 0:
                log.warning("unable to send the multicast heartbeat to %s:%d: %s", self.address, self.port, exc)
            else:
                log.debug("unable to send the multicast heartbeat: %s", exc)
            self._send_errors += 1
            if self._send_errors >= self.recovery_counter:
                self._send_errors = 0
                self._recover()
        else:
            self.stats["sent"] += 1
            self._send_errors = 0
        self.check_expired()

    async def _send_loop(self) -> None:
        period = self.frequency / 1000.0
        loop = asyncio.get_running_loop()
        next_at = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period
            if loop.time() > next_at:  # fell behind (suspended loop): do not burst
                next_at = loop.time() + period
            self._send_heartbeat()

    async def _tick_loop(self) -> None:
        """Wake at least every soTimeout to expire members, as Tomcat's receive timeout does."""
        while True:
            await asyncio.sleep(self.effective_so_timeout / 1000.0)
            self.check_expired()

    def update_payload(self, payload: bytes) -> None:
        """Tomcat's ``setPayload``: change it and announce at once."""
        self.payload = bytes(payload)
        if self._local is not None:
            self._replace_local(dataclasses.replace(self._local, payload=self.payload))
            if self.start_level & MBR_TX:
                self._send_heartbeat()

    def update_domain(self, domain: bytes | str) -> None:
        """Tomcat's ``setDomain``: change it and announce at once."""
        self.domain = _domain_bytes(domain)
        if self._local is not None:
            self._replace_local(dataclasses.replace(self._local, domain=self.domain))
            if self.start_level & MBR_TX:
                self._send_heartbeat()

    def broadcast(self, frame: bytes) -> None:
        """Send one framed channel message to the group (``SEND_OPTIONS_MULTICAST``)."""
        if not self.start_level & MBR_TX or self._sock is None:
            raise MembershipError("multicast send is not started (start the service with MBR_TX first)")
        if len(frame) > MAX_PACKET_SIZE:
            raise MembershipError(f"packet of {len(frame)} bytes exceeds the maximum of {MAX_PACKET_SIZE} bytes")
        self._sendto(bytes(frame))

    # ------------------------------------------------------------ receiving
    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # bounded: let other callbacks run during a flood
            try:
                data, addr = sock.recvfrom(MAX_PACKET_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._receive_error(exc)
                break
            self._recv_errors = 0
            self.datagram_received(data, addr, time.monotonic())
        self.check_expired()

    def _receive_error(self, exc: OSError) -> None:
        self.stats["receive_errors"] += 1
        if self._recv_errors == 0:
            log.warning("error receiving a multicast packet: %s", exc)
        self._recv_errors += 1
        if self._recv_errors >= self.recovery_counter:
            self._recv_errors = 0
            self._recover()
        elif self._loop is not None:
            # Tomcat sleeps 500 ms after a receive error
            self._stop_reading()
            self._loop.call_later(RECEIVE_ERROR_SLEEP, self._resume_reading)

    def _resume_reading(self) -> None:
        if self.start_level & MBR_RX:
            self._start_reading()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...] | None, now: float) -> list[MemberEvent]:
        """Handle one datagram (pure except for publishing); returns the events it caused."""
        self.stats["received"] += 1
        if not data.startswith(TRIBES_MBR_BEGIN):
            self.stats["broadcasts"] += 1
            cb = self.message_callback
            if cb is not None:
                try:
                    cb(bytes(data), tuple(addr) if addr else ())
                except Exception:  # noqa: BLE001
                    log.exception("multicast message callback failed")
            if self._message_listener is not None:
                self._deliver_broadcast(bytes(data), addr)
            return []
        try:
            member = decode_member(data)
        except (MemberDecodeError, ValueError, IndexError) as exc:
            self.stats["malformed"] += 1
            self.bad_packets.warn("malformed", "dropped a malformed member packet of %d bytes from %s: %s",
                                  len(data), _fmt_addr(addr), exc)
            return []
        self.stats["member_packets"] += 1
        local = self._local
        if local is not None and member == local:
            self.stats["own"] += 1
            return []
        if self.filter_domain and local is not None and member.domain != local.domain:
            self.stats["foreign_domain"] += 1
            self.bad_packets.warn("domain", "ignored a heartbeat of %s from %s: domain %r is not ours (%r)",
                                  member.name, _fmt_addr(addr), member.domain, local.domain)
            return []
        events = self.membership.on_packet(member, now)
        self._publish(events)
        return events

    def set_message_listener(self, listener: Any | None) -> None:
        """Tomcat's ``setMessageListener``: ``listener.message_received(ChannelData)`` gets every
        multicast channel message (frames in a datagram that is not a member packet), except the
        ones this node sent itself (address equal to the local member), as Tomcat does."""
        self._message_listener = listener

    def remove_message_listener(self) -> None:
        self._message_listener = None

    def _deliver_broadcast(self, data: bytes, addr: tuple[Any, ...] | None) -> None:
        from tribes.io.channel_data import ChannelData
        from tribes.io.framing import FrameDecoder, FramingError

        try:
            bodies = FrameDecoder(MAX_PACKET_SIZE).feed(data)
        except FramingError as exc:
            bodies = list(exc.frames)
            self.bad_packets.warn("broadcast", "dropped a malformed multicast message of %d bytes from %s: %s",
                                  len(data), _fmt_addr(addr), exc)
        for body in bodies:
            try:
                msg = ChannelData.decode(body)
            except ValueError as exc:
                self.bad_packets.warn("broadcast", "dropped an undecodable multicast message from %s: %s",
                                      _fmt_addr(addr), exc)
                continue
            if self._local is not None and msg.address == self._local:
                continue
            listener = self._message_listener
            if listener is None:
                return
            try:
                result = listener.message_received(msg)
            except Exception:  # noqa: BLE001
                log.exception("multicast message listener failed")
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._task_done)

    def check_expired(self, now: float | None = None) -> list[MemberEvent]:
        events = self.membership.expire(time.monotonic() if now is None else now, self.drop_time / 1000.0)
        self._publish(events)
        return events

    # ------------------------------------------------------------ recovery
    def _recover(self) -> None:
        if not self.recovery_enabled:
            return
        if self._recovery is not None and not self._recovery.done():
            return
        self._recovery = asyncio.ensure_future(self._recovery_loop())

    async def _recovery_loop(self) -> None:
        attempt = 0
        level = self.start_level or MBR_ALL
        while True:
            log.info("membership recovery: multicast is not functional, restarting the membership service")
            self.stats["recovery_attempts"] += 1
            self._stop_reading()
            if self._sender is not None:
                self._sender.cancel()
                self._sender = None
            self._close_socket(send_shutdown=True)  # peers drop us at once, then re-add us
            try:
                self._open_socket()
                if level & MBR_RX:
                    self._start_reading()
                if level & MBR_TX:
                    self._sendto(encode_member(self._heartbeat_member()))
                    self._sender = asyncio.ensure_future(self._send_loop())
            except (OSError, MembershipError) as exc:
                attempt += 1
                self._close_socket(send_shutdown=False)
                log.info("recovery attempt %d failed (%s); trying again in %d ms",
                         attempt, exc, self.recovery_sleep_time)
                await asyncio.sleep(self.recovery_sleep_time / 1000.0)
                continue
            self._send_errors = self._recv_errors = 0
            self.stats["recoveries"] += 1
            log.info("membership recovery was successful")
            return


def _fmt_addr(addr: tuple[Any, ...] | None) -> str:
    if not addr:
        return "?"
    return f"{addr[0]}:{addr[1]}"
