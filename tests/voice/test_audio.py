"""dialer.audio: conversion to Asterisk's 8 kHz mono 16-bit prompts, on generated tones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dialer import audio
from dialer.audio_prompts import DEFAULT_PROMPTS
from dialer.cli import main

SOUNDS = Path(__file__).resolve().parents[2] / "dialer" / "sounds"


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(round(seconds * rate))


def write(path: Path, data: np.ndarray, rate: int, **kw: str) -> Path:
    sf.write(str(path), data, rate, **kw)
    return path


def test_stereo_44k_wav_becomes_8k_mono_16bit(tmp_path: Path) -> None:
    x = tone(440, 1.0, 44100)
    src = write(tmp_path / "in.wav", np.column_stack([x, x]), 44100)
    stored = audio.import_file(src, "hello", tmp_path / "sounds")
    info = sf.info(str(stored.wav))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        8000,
        1,
        "PCM_16",
        "WAV",
    )


def test_sln_holds_the_same_samples_as_the_wav_raw(tmp_path: Path) -> None:
    src = write(tmp_path / "in.wav", tone(440, 0.5, 16000), 16000)
    stored = audio.import_file(src, "p", tmp_path)
    wav, _ = sf.read(str(stored.wav), dtype="int16")
    raw = np.frombuffer(stored.sln.read_bytes(), dtype="<i2")
    assert np.array_equal(raw, wav)
    assert len(raw) == 4000


def test_leading_silence_is_trimmed_to_the_kept_margin() -> None:
    rate = 48000
    data = np.concatenate([silence(0.7, rate), tone(1000, 1.0, rate)])
    prompt = audio.prepare(data, rate)
    assert prompt.duration_s == pytest.approx(1.0 + 0.05, abs=0.011)
    assert prompt.trimmed_s == pytest.approx(0.65, abs=0.011)


def test_quiet_speech_is_raised_to_the_target_rms() -> None:
    rate = 22050
    data = np.concatenate(
        [tone(500, 1.0, rate, 0.02), silence(0.5, rate), tone(800, 1.0, rate, 0.02)]
    )
    prompt = audio.prepare(data, rate)
    x = prompt.pcm / 32767.0
    # The active level (pauses left out) lands on the target; the pause stays silent.
    assert audio.active_rms_dbfs(x, 8000, -45.0) == pytest.approx(-20.0, abs=0.2)
    assert audio.peak_dbfs(x) < -1.0


def test_peak_limit_wins_over_the_rms_target() -> None:
    rate = 8000
    data = tone(300, 1.0, rate, 0.01)
    data[4000] = 0.9  # one click: the gain to reach -20 dBFS RMS would clip it
    prompt = audio.prepare(data, rate)
    x = prompt.pcm / 32767.0
    assert audio.peak_dbfs(x) == pytest.approx(-1.0, abs=0.05)
    assert audio.rms_dbfs(x) < -20.0


def test_a_6khz_tone_is_filtered_out_not_folded_down() -> None:
    out = audio.resample(tone(6000, 1.0, 44100), 44100)
    body = out[400:-400]  # leave out the filter's edges
    assert audio.rms_dbfs(body) < -60.0


def test_the_pipeline_keeps_speech_band_and_drops_6khz() -> None:
    rate = 44100
    data = np.concatenate([tone(1000, 0.5, rate), tone(6000, 1.0, rate)])
    x = audio.prepare(data, rate).pcm / 32767.0
    assert audio.rms_dbfs(x[:3600]) > -25.0  # the 1 kHz part
    assert audio.rms_dbfs(x[5000:]) < -60.0  # where the 6 kHz tone was


def test_a_real_mp3_is_read_and_converted(tmp_path: Path) -> None:
    src = write(tmp_path / "in.mp3", tone(440, 1.0, 44100), 44100, format="MP3")
    assert sf.info(str(src)).format == "MP3"
    stored = audio.import_file(src, "mp3", tmp_path / "s")
    assert stored.prompt.source_rate == 44100
    assert stored.prompt.duration_s == pytest.approx(1.0, abs=0.08)
    assert audio.rms_dbfs(stored.prompt.pcm / 32767.0) == pytest.approx(-20.0, abs=0.5)


@pytest.mark.parametrize(("suffix", "kw"), [(".flac", {}), (".ogg", {"subtype": "VORBIS"})])
def test_flac_and_ogg_are_read(tmp_path: Path, suffix: str, kw: dict[str, str]) -> None:
    src = write(tmp_path / f"in{suffix}", tone(440, 0.5, 32000), 32000, **kw)
    stored = audio.import_file(src, "x", tmp_path / "s")
    assert stored.prompt.duration_s == pytest.approx(0.5, abs=0.03)


def test_corrupt_file_error_names_it(tmp_path: Path) -> None:
    src = tmp_path / "broken.wav"
    src.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 3)
    with pytest.raises(audio.AudioError, match=r"broken\.wav: not a readable audio file"):
        audio.import_file(src, "b", tmp_path / "s")


def test_empty_file_error_names_it(tmp_path: Path) -> None:
    src = tmp_path / "empty.mp3"
    src.write_bytes(b"")
    with pytest.raises(audio.AudioError, match=r"empty\.mp3: the file is empty"):
        audio.import_file(src, "e", tmp_path / "s")


def test_wav_with_no_samples_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "none.wav", np.zeros(0), 8000)
    with pytest.raises(audio.AudioError, match=r"none\.wav: the file holds no audio"):
        audio.import_file(src, "n", tmp_path / "s")


def test_silent_file_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "quiet.wav", np.full(8000, 1e-4), 8000)
    with pytest.raises(audio.AudioError, match=r"quiet\.wav: the audio is silent"):
        audio.import_file(src, "q", tmp_path / "s")


def test_prompt_name_cannot_leave_the_sounds_directory(tmp_path: Path) -> None:
    with pytest.raises(audio.AudioError, match=r"prompt name '\.\./drop'"):
        audio.check_name("../drop")


def test_options_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="silence_dbfs < target_rms_dbfs"):
        audio.Options(target_rms_dbfs=-3.0, peak_limit_dbfs=-6.0)


def test_cli_import_stores_the_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "in.flac", tone(440, 1.0, 16000), 16000)
    code = main(
        ["audio", "import", str(src), "--name", "drop", "--sounds-dir", str(tmp_path / "s")]
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["drop.sln", "drop.wav"]
    assert "dialer/drop" in capsys.readouterr().out


def test_cli_import_error_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audio", "import", str(tmp_path / "gone.wav"), "--name", "x"])
    assert code == 1
    assert (
        capsys.readouterr().err == f"dialer audio: error: {tmp_path / 'gone.wav'}: no such file\n"
    )


def test_shipped_prompts_are_8k_mono_and_normalised() -> None:
    for name in DEFAULT_PROMPTS:
        path = SOUNDS / f"{name}.wav"
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16"), name
        data, _ = sf.read(str(path))
        assert info.duration > 1.5, name
        assert audio.active_rms_dbfs(data, 8000, -45.0) == pytest.approx(-20.0, abs=1.0), name


def test_defaults_install_every_prompt_and_keep_existing_ones(tmp_path: Path) -> None:
    (tmp_path / "drop.wav").write_bytes(b"mine")
    written = audio.install_defaults(tmp_path)
    names = {p.name for p in written}
    assert names == {
        f"{n}{ext}" for n in DEFAULT_PROMPTS if n != "drop" for ext in (".wav", ".sln")
    }
    assert (tmp_path / "drop.wav").read_bytes() == b"mine"
    audio.install_defaults(tmp_path, overwrite=True)
    assert sf.info(str(tmp_path / "drop.wav")).samplerate == 8000


def test_dbfs_of_silence_is_minus_infinity() -> None:
    assert audio.rms_dbfs(np.zeros(10)) == -math.inf
