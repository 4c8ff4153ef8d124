"""Regenerate the default prompts in dialer/sounds/ with espeak-ng (docs/audio.md).

    apt-get install -y espeak-ng
    .venv/bin/python scripts/make_prompts.py [--out DIR] [--voice en-us] [--speed 150]

Each text of ``dialer.audio_prompts.DEFAULT_PROMPTS`` is spoken by espeak-ng into a wav and
converted with the same pipeline as ``dialer audio import`` (8 kHz mono 16-bit, leading silence
trimmed, loudness normalised). Only the .wav files are kept in the repository; the .sln twins
are made by ``dialer audio defaults``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer import audio  # noqa: E402
from dialer.audio_prompts import DEFAULT_PROMPTS  # noqa: E402


def speak(text: str, out: Path, voice: str, speed: int) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("make_prompts: espeak-ng is not installed (apt-get install -y espeak-ng)")
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dialer" / "sounds")
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--speed", type=int, default=150, help="words per minute")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in DEFAULT_PROMPTS.items():
            raw = Path(tmp) / f"{name}.wav"
            speak(text, raw, args.voice, args.speed)
            stored = audio.import_file(raw, name, args.out)
            stored.sln.unlink()  # the repository keeps the wav; `dialer audio defaults` makes sln
            p = stored.prompt
            print(
                f"{stored.wav.relative_to(ROOT) if stored.wav.is_relative_to(ROOT) else stored.wav}"
                f": {p.duration_s:.2f} s, gain {p.gain_db:+.1f} dB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
