"""`dialer audio import FILE --name NAME [--sounds-dir DIR]` and `dialer audio defaults`.

``import`` converts a wav, flac, ogg or mp3 file into the prompt Asterisk plays as
``dialer/NAME`` (docs/audio.md); ``defaults`` copies the shipped prompts into the sounds
directory (kept if present, unless ``--force``). The directory defaults to the ``sounds_dir``
setting (``DIALER_SOUNDS_DIR``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audio",
        help="prepare prompts for Asterisk",
        description="Prepare prompts (drop, machine, survey messages) in the sounds directory "
        "Asterisk plays them from as dialer/<name>.",
    )
    actions = parser.add_subparsers(dest="audio_action", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="convert an audio file into a prompt",
        description="Convert FILE (wav, flac, ogg or mp3) to 8 kHz mono 16-bit wav and sln, "
        "trim its leading silence, normalise its loudness, and store it as NAME.",
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--name", required=True, help="prompt name, played as dialer/NAME")
    _sounds_dir_option(imp)
    imp.set_defaults(handler=run_import)
    defaults = actions.add_parser(
        "defaults",
        help="install the default prompts",
        description="Copy the shipped default prompts into the sounds directory.",
    )
    _sounds_dir_option(defaults)
    defaults.add_argument("--force", action="store_true", help="replace existing prompts")
    defaults.set_defaults(handler=run_defaults)


def _sounds_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sounds-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="default: the sounds_dir setting ($DIALER_SOUNDS_DIR, else ./sounds)",
    )


def _sounds_dir(args: argparse.Namespace) -> Path:
    from dialer.cli import UserError
    from dialer.settings import SettingsError, load_settings

    if args.sounds_dir is not None:
        return Path(args.sounds_dir)
    try:
        return load_settings().sounds_dir
    except SettingsError as exc:
        raise UserError(str(exc)) from exc


def run_import(args: argparse.Namespace) -> int:
    from dialer.audio import AudioError, import_file
    from dialer.cli import UserError

    try:
        stored = import_file(args.file, args.name, _sounds_dir(args))
    except AudioError as exc:
        raise UserError(str(exc)) from exc
    p = stored.prompt
    print(
        f"stored {args.name}: {stored.wav} and {stored.sln} ({p.duration_s:.2f} s, "
        f"{p.trimmed_s:.2f} s of leading silence trimmed, gain {p.gain_db:+.1f} dB); "
        f"Asterisk plays it as dialer/{args.name}"
    )
    return 0


def run_defaults(args: argparse.Namespace) -> int:
    from dialer.audio import AudioError, install_defaults
    from dialer.cli import UserError

    directory = _sounds_dir(args)
    try:
        written = install_defaults(directory, overwrite=args.force)
    except AudioError as exc:
        raise UserError(str(exc)) from exc
    print(f"{len(written) // 2} default prompts written to {directory}")
    return 0
