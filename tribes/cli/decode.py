"""``tribes decode FILE.pcap [--json]``: decode the Tribes traffic of a capture.

Membership heartbeats (UDP), channel messages (TCP frames, reassembled per direction; multicast
frames) and ACKs are printed one per line; ``--json`` prints one JSON object per line (kinds
``member``, ``message``, ``ack``, ``error``, ``note`` and a final ``summary``). Exit status 0 when
everything decoded, 1 with the count of errors otherwise.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from tribes.cli.common import EXIT_ERRORS, EXIT_OK, emit_json

HELP_EPILOG = """\b
Examples:
  tribes decode capture.pcap                       # one line per heartbeat, message, ACK
  tribes decode capture.pcapng --json | jq .kind   # one JSON object per line
  tribes decode big.pcap --no-values               # class names only (faster)

Exit status: 0 when every Tribes packet decoded, 1 (with the error count on stderr) otherwise."""


def _text(ev: Any) -> str:
    d = ev.to_json()
    head = f"{d['time']} {d['kind']:<7} {d['transport']} {d['src']} -> {d['dst']}"
    if ev.kind == "member":
        m = ev.member
        extra = f" domain={m.domain.decode('latin-1')!r}" if m.domain else ""
        cmd = " SHUTDOWN" if m.is_shutdown else (f" command={m.command!r}" if m.command else "")
        return f"{head}  {m.name} id={m.unique_id.hex()} alive={m.alive}{extra}{cmd}"
    if ev.kind == "message":
        cls = f" class={d['payloadClass']}" if "payloadClass" in d else ""
        return (f"{head}  options={d['options']} ({d['optionNames'] or '-'}) id={d['uniqueId']} "
                f"sender={ev.data.address.name} payload={d['payloadLength']}B {d['payloadEncoding']}{cls}")
    if ev.kind == "ack":
        return f"{head}  {d['result']}"
    if ev.kind == "error":
        return f"{head}  ERROR {d['error']}"
    return f"{head}  {d.get('note', '')}"


@click.command("decode", epilog=HELP_EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, each with a kind.")
@click.option("--max-message-size", type=click.IntRange(min=0), default=256 * 1024 * 1024, show_default=True,
              help="Largest frame body accepted (max_message_size).")
@click.option("--no-values", is_flag=True, help="Do not decode Java-serialized payloads (class names only).")
@click.option("--values-max", type=click.IntRange(min=0), default=1 << 20, show_default=True, metavar="BYTES",
              help="Decode Java-serialized payloads up to this size (larger ones: class name only).")
def decode(file: str, as_json: bool, max_message_size: int, no_values: bool, values_max: int) -> None:
    """Decode the Tomcat cluster (Tribes) traffic in a pcap/pcapng FILE."""
    from tribes.capture import CaptureDecoder, decode_pcap

    dec = CaptureDecoder(max_message_size=max_message_size, decode_values=not no_values,
                         values_max_bytes=values_max)
    out = sys.stdout
    from tribes.cli.progress import file_progress  # a rich bar on stderr for big captures (terminal only)
    try:
        with file_progress(file) as source:
            for ev in decode_pcap(source, dec):
                if as_json:
                    out.write(json.dumps(ev.to_json(), separators=(",", ":"), default=str) + "\n")
                else:
                    out.write(_text(ev) + "\n")
    except BrokenPipeError:  # pragma: no cover - `| head`
        sys.exit(EXIT_OK)
    except Exception as exc:  # noqa: BLE001 - unreadable capture file
        raise click.ClickException(f"cannot read {file}: {type(exc).__name__}: {exc}") from exc
    c = dec.counts
    summary = (f"{c['member']} member packets, {c['message']} messages, {c['ack']} acks, "
               f"{c['error']} errors")
    if as_json:
        emit_json("summary", out, file=file, members=c["member"], messages=c["message"], acks=c["ack"],
                  errors=c["error"], notes=c["note"])
    click.echo(f"{file}: {summary}", err=True)
    sys.exit(EXIT_ERRORS if c["error"] else EXIT_OK)
