"""Prompts for Asterisk: convert any wav/flac/ogg/mp3 to what Asterisk plays (docs/audio.md).

Asterisk plays ``dialer/drop`` from ``<sounds>/dialer/drop.wav`` (8 kHz, mono, 16-bit PCM) or
``drop.sln`` (the same samples as raw signed linear, little-endian), without transcoding. The
pipeline is pure functions over numpy arrays, with file reading and writing at the edges:

    read (soundfile: wav, flac, ogg, mp3) -> mono -> resample to 8 kHz (soxr, anti-aliased)
    -> trim leading silence -> normalise (active-speech RMS target, peak limit) -> 16-bit PCM

pydub is not used: it resamples with no anti-alias filter (a 6 kHz tone converted to 8 kHz came
out at -21.6 dBFS where soxr gives -72.9) and needs audioop-lts on Python 3.13.

Bad input raises :class:`AudioError` naming the file.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

ASTERISK_RATE = 8000
READABLE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_WINDOW_S = 0.010  # level analysis window

FloatArray = npt.NDArray[np.float64]
Pcm16 = npt.NDArray[np.int16]


class AudioError(ValueError):
    """The audio cannot be used as a prompt; the message names the file and the reason."""


@dataclass(frozen=True)
class Options:
    """How a prompt is prepared. Levels in dBFS (0 dBFS: a full-scale square wave's RMS)."""

    silence_dbfs: float = -45.0  # a 10 ms window quieter than this is silence
    keep_before_s: float = 0.05  # silence kept before the first sound, so it does not click in
    target_rms_dbfs: float = -20.0  # level of the active (non-silent) part after normalising
    peak_limit_dbfs: float = -1.0  # no sample above this: the gain is lowered to respect it

    def __post_init__(self) -> None:
        if not self.silence_dbfs < self.target_rms_dbfs <= self.peak_limit_dbfs <= 0.0:
            raise ValueError(
                "audio options: need silence_dbfs < target_rms_dbfs <= peak_limit_dbfs <= 0"
            )
        if self.keep_before_s < 0:
            raise ValueError("audio options: keep_before_s must not be negative")


@dataclass(frozen=True)
class Prompt:
    """A prepared prompt: 8 kHz mono 16-bit samples and what was done to them."""

    pcm: Pcm16
    trimmed_s: float  # leading silence removed
    gain_db: float  # gain applied by normalisation
    source_rate: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / ASTERISK_RATE


@dataclass(frozen=True)
class Stored:
    wav: Path
    sln: Path
    prompt: Prompt


# -- levels -------------------------------------------------------------------------------------


def dbfs(amplitude: float) -> float:
    """An amplitude (RMS or peak, full scale 1.0) in dBFS; -inf for 0."""
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def rms_dbfs(x: FloatArray) -> float:
    return dbfs(float(np.sqrt(np.mean(np.square(x))))) if len(x) else -math.inf


def peak_dbfs(x: FloatArray) -> float:
    return dbfs(float(np.max(np.abs(x)))) if len(x) else -math.inf


def _window_levels(x: FloatArray, rate: int) -> FloatArray:
    """RMS (linear) of consecutive 10 ms windows; a short tail counts as one window."""
    n = max(1, round(rate * _WINDOW_S))
    pad = (-len(x)) % n
    padded = np.concatenate([x, np.zeros(pad)]) if pad else x
    windows = padded.reshape(-1, n)
    levels: FloatArray = np.sqrt(np.mean(np.square(windows), axis=1))
    return levels


def active_rms_dbfs(x: FloatArray, rate: int, silence_dbfs: float) -> float:
    """RMS over the windows louder than ``silence_dbfs`` (speech level, pauses left out)."""
    levels = _window_levels(x, rate)
    loud = levels[levels > 10 ** (silence_dbfs / 20)]
    return dbfs(float(np.sqrt(np.mean(np.square(loud))))) if len(loud) else -math.inf


# -- the pipeline (pure) ------------------------------------------------------------------------


def to_mono(data: FloatArray) -> FloatArray:
    """(frames,) or (frames, channels) -> (frames,), channels averaged."""
    if data.ndim == 1:
        return data.astype(np.float64, copy=False)
    mono: FloatArray = data.mean(axis=1, dtype=np.float64)
    return mono


def resample(x: FloatArray, rate: int, to_rate: int = ASTERISK_RATE) -> FloatArray:
    """Band-limited resampling with soxr (very high quality: the stop band is below -100 dB)."""
    if rate == to_rate:
        return x
    import soxr

    out: FloatArray = np.asarray(soxr.resample(x, rate, to_rate, quality="VHQ"), np.float64)
    return out


def leading_silence(x: FloatArray, rate: int, silence_dbfs: float) -> int:
    """Samples before the first 10 ms window louder than ``silence_dbfs`` (len(x) if none)."""
    levels = _window_levels(x, rate)
    loud = np.flatnonzero(levels > 10 ** (silence_dbfs / 20))
    if not len(loud):
        return len(x)
    return min(len(x), int(loud[0]) * max(1, round(rate * _WINDOW_S)))


def trim_leading_silence(
    x: FloatArray, rate: int, silence_dbfs: float, keep_before_s: float = 0.05
) -> FloatArray:
    start = max(0, leading_silence(x, rate, silence_dbfs) - round(keep_before_s * rate))
    return x[start:]


def normalise_gain_db(
    x: FloatArray, rate: int, target_rms_dbfs: float, peak_limit_dbfs: float, silence_dbfs: float
) -> float:
    """The gain that brings the active RMS to the target, lowered so no peak passes the limit."""
    level = active_rms_dbfs(x, rate, silence_dbfs)
    if level == -math.inf:
        return 0.0
    gain = target_rms_dbfs - level
    peak = peak_dbfs(x)
    return min(gain, peak_limit_dbfs - peak)


def to_pcm16(x: FloatArray) -> Pcm16:
    """Full scale 1.0 -> int16, rounded and clipped."""
    pcm: Pcm16 = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    return pcm


def prepare(
    data: FloatArray,
    rate: int,
    *,
    source: str = "<audio>",
    options: Options | None = None,
) -> Prompt:
    """Samples ``(frames,)`` or ``(frames, channels)`` at ``rate`` -> an 8 kHz mono prompt.

    ``source`` names the input in errors (empty, silent)."""
    opts = options or Options()
    if rate <= 0:
        raise AudioError(f"{source}: bad sample rate {rate}")
    channels = 1 if data.ndim == 1 else int(data.shape[1])
    if data.shape[0] == 0 or channels == 0:
        raise AudioError(f"{source}: the file holds no audio (0 samples)")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{source}: the audio holds NaN or infinite samples")
    x = resample(to_mono(np.asarray(data, dtype=np.float64)), rate)
    start = leading_silence(x, ASTERISK_RATE, opts.silence_dbfs)
    if start >= len(x):
        raise AudioError(
            f"{source}: the audio is silent (nothing above {opts.silence_dbfs:g} dBFS; "
            f"peak {peak_dbfs(x):.1f} dBFS)"
        )
    keep = round(opts.keep_before_s * ASTERISK_RATE)
    trimmed = x[max(0, start - keep) :]
    gain_db = normalise_gain_db(
        trimmed, ASTERISK_RATE, opts.target_rms_dbfs, opts.peak_limit_dbfs, opts.silence_dbfs
    )
    out = trimmed * 10 ** (gain_db / 20)
    return Prompt(
        pcm=to_pcm16(out),
        trimmed_s=(len(x) - len(trimmed)) / ASTERISK_RATE,
        gain_db=gain_db,
        source_rate=rate,
        source_channels=channels,
    )


# -- files --------------------------------------------------------------------------------------


def read_audio(path: str | Path) -> tuple[FloatArray, int]:
    """Samples ``(frames, channels)`` as float64 in [-1, 1] and the sample rate."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: the file is empty (0 bytes)")
    try:
        data, rate = sf.read(str(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(
            f"{p}: not a readable audio file ({_short(exc)}); use wav, flac, ogg or mp3"
        ) from None
    except OSError as exc:
        raise AudioError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return np.asarray(data, dtype=np.float64), int(rate)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def check_name(name: str) -> str:
    """A prompt name Asterisk can play as ``dialer/<name>``: letters, digits, ``_`` and ``-``."""
    if not _NAME.match(name):
        raise AudioError(
            f"prompt name {name!r}: use 1-64 letters, digits, '_' or '-' "
            "(no directories, no extension)"
        )
    return name


def sln_bytes(pcm: Pcm16) -> bytes:
    """Asterisk's .sln: raw 16-bit signed little-endian samples, 8 kHz mono, no header."""
    return pcm.astype("<i2").tobytes()


def wav_bytes(pcm: Pcm16) -> bytes:
    """A 44-byte-header RIFF/WAVE file: PCM 16-bit, mono, 8000 Hz (what format_wav plays)."""
    data = sln_bytes(pcm)
    rate, channels, width = ASTERISK_RATE, 1, 2
    header = b"".join(
        [
            b"RIFF",
            (36 + len(data)).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"),  # PCM
            channels.to_bytes(2, "little"),
            rate.to_bytes(4, "little"),
            (rate * channels * width).to_bytes(4, "little"),
            (channels * width).to_bytes(2, "little"),
            (8 * width).to_bytes(2, "little"),
            b"data",
            len(data).to_bytes(4, "little"),
        ]
    )
    return header + data


def _write_atomic(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(prompt: Prompt, name: str, sounds_dir: str | Path) -> Stored:
    """Write ``<sounds_dir>/<name>.wav`` and ``.sln`` (each replaced atomically)."""
    check_name(name)
    directory = Path(sounds_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        wav, sln = directory / f"{name}.wav", directory / f"{name}.sln"
        _write_atomic(wav, wav_bytes(prompt.pcm))
        _write_atomic(sln, sln_bytes(prompt.pcm))
    except OSError as exc:
        raise AudioError(f"{directory}: cannot write the prompt: {exc.strerror or exc}") from None
    return Stored(wav, sln, prompt)


def import_file(
    path: str | Path, name: str, sounds_dir: str | Path, options: Options | None = None
) -> Stored:
    """Read ``path``, prepare it, store it as ``name`` in ``sounds_dir``."""
    check_name(name)
    data, rate = read_audio(path)
    return store(prepare(data, rate, source=str(path), options=options), name, sounds_dir)


# -- default prompts ----------------------------------------------------------------------------


def default_prompt_files() -> dict[str, bytes]:
    """The prompts shipped in ``dialer/sounds/`` (name -> wav bytes)."""
    folder = resources.files("dialer").joinpath("sounds")
    out: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".wav"):
            out[entry.name[: -len(".wav")]] = entry.read_bytes()
    return out


def install_defaults(sounds_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the shipped prompts (wav, and sln made from it) into ``sounds_dir``; an existing
    prompt of the same name is kept unless ``overwrite``. Returns the files written."""
    import io

    import soundfile as sf

    directory = Path(sounds_dir)
    written: list[Path] = []
    for name, wav in default_prompt_files().items():
        target = directory / f"{name}.wav"
        if target.exists() and not overwrite:
            continue
        data, rate = sf.read(io.BytesIO(wav), dtype="int16")
        if rate != ASTERISK_RATE or np.ndim(data) != 1:
            raise AudioError(f"dialer/sounds/{name}.wav: not 8 kHz mono (a broken install)")
        stored = store(Prompt(np.asarray(data, np.int16), 0.0, 0.0, rate, 1), name, directory)
        written += [stored.wav, stored.sln]
    return written
