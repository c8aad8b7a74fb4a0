"""`cti bench ami`: AMI events/s through framing -> typed event -> call tracker.

The stream is every event of the real Asterisk transcripts 01-09 (in capture order),
repeated with Uniqueid/Linkedid values renamed per repetition so that each repetition
is a fresh set of calls that start and end, as on a busy PBX. The ceiling is
panoramisk 1.4's own parser (AMIProtocol.data_received -> Message) on the same bytes,
with no typing and no tracker.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from cti.ami.codec import parse_event
from cti.ami.events import CallEvent
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.ami.wire import AmiFramer
from cti.sim import transcripts

CHUNK = 65_536  # bytes per socket read
_ID_KEYS = ("Uniqueid", "Linkedid", "UniqueID", "LinkedID")


def _events(folder: Path) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for number in (1, 2, 4, 5, 6, 7, 8, 9):
        for section in transcripts.load_ami(transcripts.find(number, folder)):
            for block in section.server_bytes.decode("utf-8").split("\r\n\r\n"):
                lines = [ln.partition(": ") for ln in block.split("\r\n") if ": " in ln]
                if lines and lines[0][0] == "Event":
                    out.append([(k, v) for k, _, v in lines])
    return out


def build_stream(count: int, folder: Path | None = None) -> tuple[bytes, int]:
    """`count` events (rounded up to whole repetitions) as AMI wire bytes, with banner."""
    events = _events(folder or transcripts.default_dir())
    parts = ["Asterisk Call Manager/11.0.0\r\n"]
    made = rep = 0
    while made < count:
        for fields in events:
            parts.append(
                "".join(
                    f"{k}: {v}-r{rep}\r\n" if k.endswith(_ID_KEYS) and v else f"{k}: {v}\r\n"
                    for k, v in fields
                )
                + "\r\n"
            )
        made += len(events)
        rep += 1
    return "".join(parts).encode("utf-8"), made


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_ours(chunks: list[bytes]) -> tuple[float, int, int, int]:
    """Seconds of CPU, events parsed, events typed, domain events published."""
    published = 0

    def publish(_event: CallEvent) -> None:
        nonlocal published
        published += 1

    tracker = CallTracker()
    feed = AmiFeed(tracker, publish, clock=time.monotonic)
    framer = AmiFramer()
    on_raw = feed.on_raw
    start = time.process_time()
    for chunk in chunks:
        for raw in framer.feed(chunk):
            on_raw(raw)
    typed = framer.stats.messages - feed.skipped
    return time.process_time() - start, framer.stats.messages, typed, published


def run_type_all(chunks: list[bytes]) -> tuple[float, int]:
    """The same, but every event becomes a pydantic model (no filtering)."""
    tracker = CallTracker()
    framer = AmiFramer()
    start = time.process_time()
    for chunk in chunks:
        for raw in framer.feed(chunk):
            tracker.apply(parse_event(raw), 0.0)
    return time.process_time() - start, framer.stats.messages


def run_bare(chunks: list[bytes]) -> tuple[float, int]:
    from panoramisk.ami_protocol import AMIProtocol

    count = 0

    class _Factory:
        def dispatch(self, _message: Any) -> None:
            nonlocal count
            count += 1

    class _Transport:
        def write(self, _data: bytes) -> None:
            pass

    proto = AMIProtocol()
    proto.connection_made(_Transport())
    proto.factory = _Factory()
    proto.encoding = "utf-8"
    start = time.process_time()
    for chunk in chunks:
        proto.data_received(chunk)
    return time.process_time() - start, count


def run(events: int = 300_000, transcripts: Path | None = None, rounds: int = 3) -> int:
    data, made = build_stream(events, transcripts)
    chunks = _chunks(data)
    ours_s, all_s, bare_s = [], [], []
    parsed = typed = bare_count = published = 0
    for _ in range(rounds):
        seconds, parsed, typed, published = run_ours(chunks)
        ours_s.append(seconds)
        seconds, _ = run_type_all(chunks)
        all_s.append(seconds)
        seconds, bare_count = run_bare(chunks)
        bare_s.append(seconds)
    ours_rate = parsed / statistics.median(ours_s)
    all_rate = parsed / statistics.median(all_s)
    bare_rate = bare_count / statistics.median(bare_s)
    print(f"AMI stream: {made:,} events, {len(data) / 1e6:.1f} MB, {len(chunks)} reads "
          f"of {CHUNK} bytes; median of {rounds} rounds, CPU time, one core")  # fmt: skip
    print(f"{'pipeline':<48} {'events':>10} {'events/s':>12}")
    print(f"{'cti: frame -> typed event -> tracker':<48} {parsed:>10,} {ours_rate:>12,.0f}")
    print(f"{'  (of which typed: only events a consumer reads)':<48} {typed:>10,}")
    print(f"{'cti, every event typed (no filter)':<48} {parsed:>10,} {all_rate:>12,.0f}")
    print(f"{'panoramisk 1.4 bare parser (ceiling)':<48} {bare_count:>10,} {bare_rate:>12,.0f}")
    print(f"ratio to bare parser: {ours_rate / bare_rate:.2f}  "
          f"(domain events published per run: {published:,})")  # fmt: skip
    print(json.dumps({
        "events_per_s": round(ours_rate),
        "bare_parser_events_per_s": round(bare_rate),
        "ratio_to_bare_parser": round(ours_rate / bare_rate, 3),
    }))  # fmt: skip
    return 0
