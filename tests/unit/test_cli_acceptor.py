"""ProbeAcceptor (``tribes members --join``): ACKs what asks for it, counts the failure detector's
probes, answers GET_ALL_SESSIONS with NOCONTEXTMANAGER through the session message codec (loopback)."""
from __future__ import annotations

import asyncio
import time

from tribes.channel import SendOptions, new_unique_id
from tribes.cli.acceptor import TCP_FAIL_DETECT, ProbeAcceptor, no_context_manager_answer
from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_FRAME, FrameDecoder
from tribes.io.member import Member
from tribes.managers.session_message import (EVT_ALL_SESSION_NOCONTEXTMANAGER, EVT_GET_ALL_SESSIONS,
                                             SessionMessage)


def test_answer_is_the_codec_s_bytes() -> None:
    ask = SessionMessage(EVT_GET_ALL_SESSIONS, "localhost#/app", "GET-ALL", None, "GET-ALL-localhost#/app")
    answer = no_context_manager_answer(ask.encode())
    assert answer is not None and answer[0] == "localhost#/app"
    reply = SessionMessage.decode(answer[1])
    assert reply.event_type == EVT_ALL_SESSION_NOCONTEXTMANAGER and reply.session_id == "NO-CONTEXT-MANAGER"
    assert reply.unique_id == "NO-CONTEXT-MANAGER-localhost#/app"
    other = SessionMessage(EVT_ALL_SESSION_NOCONTEXTMANAGER, "localhost#/app", "x", None, "y")
    assert no_context_manager_answer(other.encode()) is None
    assert no_context_manager_answer(b"\xac\xed\x00\x05junk") is None and no_context_manager_answer(b"") is None


def test_acceptor_acks_counts_probes_and_answers_on_loopback() -> None:
    async def run() -> tuple[int, int, list[SessionMessage], bytes]:
        got: list[SessionMessage] = []
        done = asyncio.Event()

        async def peer_receiver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            dec = FrameDecoder()
            while not done.is_set():
                chunk = await reader.read(65536)
                if not chunk:
                    break
                for body in dec.feed(chunk):
                    got.append(SessionMessage.decode(ChannelData.decode(body).message))
                    done.set()
            writer.close()

        peer = await asyncio.start_server(peer_receiver, "127.0.0.1", 0)
        peer_port = peer.sockets[0].getsockname()[1]
        me = Member(host=b"\x7f\x00\x00\x01", port=peer_port, unique_id=new_unique_id())
        local = Member(host=b"\x7f\x00\x00\x01", port=1, unique_id=new_unique_id())
        acceptor = ProbeAcceptor("127.0.0.1", 47100, auto_bind=200, local_member=lambda: local)
        port = await acceptor.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            ask = SessionMessage(EVT_GET_ALL_SESSIONS, "localhost#/app", "GET-ALL", None, "GET-ALL-1").encode()
            opts = int(SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK)
            writer.write(ChannelData(int(SendOptions.BYTE_MESSAGE), 0, new_unique_id(), me, TCP_FAIL_DETECT)
                         .encode_frame())
            writer.write(ChannelData(opts, int(time.time() * 1000), new_unique_id(), me, ask).encode_frame())
            await writer.drain()
            ack = await asyncio.wait_for(reader.readexactly(len(ACK_FRAME)), 30)
            await asyncio.wait_for(done.wait(), 30)
            writer.close()
        finally:
            await acceptor.stop()
            peer.close()
        return acceptor.probes, acceptor.acks, got, ack

    probes, acks, got, ack = asyncio.run(run())
    assert ack == ACK_FRAME and probes == 1 and acks == 1
    assert [(m.event_type, m.context_name) for m in got] == [(EVT_ALL_SESSION_NOCONTEXTMANAGER, "localhost#/app")]
