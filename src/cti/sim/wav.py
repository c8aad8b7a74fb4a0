"""The WAV files MixMonitor leaves behind: a tone for the voiced stretch, silence for the
muted one, 16-bit mono like Asterisk's `wav` format."""

from __future__ import annotations

import functools
import math
import struct
import wave
from pathlib import Path


@functools.cache
def _tone(rate: int) -> bytes:
    """One second of a 425 Hz tone."""
    return b"".join(
        struct.pack("<h", round(3000 * math.sin(2 * math.pi * 425 * n / rate))) for n in range(rate)
    )


def write_wav(
    path: Path,
    voiced_s: float,
    silent_s: float = 0.0,
    rate: int = 8000,
    *,
    sizes_known: bool = True,
) -> None:
    """A real WAV file: `voiced_s` of a 425 Hz tone then `silent_s` of silence (a muted
    stretch), 16-bit mono at `rate` (Asterisk's wav is 8 kHz; the demo may use less to
    keep long simulated calls small). `sizes_known=False`: the file of a MixMonitor cut
    by a crash, whose RIFF and data sizes were never written (0)."""
    tone = _tone(rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for seconds, second_of_audio in ((voiced_s, tone), (silent_s, bytes(2 * rate))):
            frames = round(seconds * rate)
            whole, rest = divmod(frames, rate)
            for _ in range(whole):
                out.writeframesraw(second_of_audio)
            out.writeframesraw(second_of_audio[: 2 * rest])
    if not sizes_known:
        with open(path, "r+b") as raw:
            for offset in (4, 40):  # RIFF size, data size (the canonical 44-byte header)
                raw.seek(offset)
                raw.write(b"\0\0\0\0")
