#!/usr/bin/env python
"""Generate polyclr's captioned audio reference set locally (no download).

Sources (each used only when its tool / files are installed; Debian: ``apt-get install -y
espeak-ng sox fluidsynth fluid-soundfont-gm sound-theme-freedesktop``):

* speech: espeak-ng keywords with male/female voices, slow/fast speed, low/high pitch
  ("a woman says 'stop' slowly");
* sound events: sox ``synth`` beeps, buzzes, chirps, white/brown noise bursts, plucks;
* instruments: fluidsynth renders of short General-MIDI phrases (piano, violin, trumpet, flute)
  with the installed General-MIDI soundfont;
* real recordings: the freedesktop sound theme (``/usr/share/sounds/freedesktop``);
* ordered pairs: concatenations of two of the above ("a beep followed by someone saying yes"),
  with the boundary recorded in ``boundary_s``.

Everything is resampled to 16 kHz mono 16-bit WAV; ``captions.csv`` follows polyclr's layout
(file_name, caption, label, patient_id, boundary_s). Without espeak-ng/sox it falls back to the
pure-numpy generator (``polyclr.modalities.audio.synth``).

Usage::

    python scripts/make_audio_reference.py [--out DIR] [--seed 0]
    # the larger set of docs/results_audio.md (2.8x the labelled clips):
    python scripts/make_audio_reference.py --out ~/.cache/polyclr/audio_reference_large \
        --events 300 --instrument-phrases 24 --all-pitches

Default ``--out``: ``$POLYCLR_CACHE/audio_reference`` (``~/.cache/polyclr`` when unset), which
``polyclr demo`` picks up automatically.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from polyclr.modalities.audio.io import load_mono
from polyclr.modalities.audio.synth import cache_dir, generate

SR = 16000
WORDS = ("yes", "no", "stop", "go", "left", "right", "up", "down")
VOICES = (("en-us+m3", "a man"), ("en-us+f3", "a woman"))
SPEEDS = ((110, "slowly"), (210, "quickly"))
PITCHES = ((25, "in a low voice"), (75, "in a high voice"))
INSTRUMENTS = ((0, "a piano"), (40, "a violin"), (56, "a trumpet"), (73, "a flute"))
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2")
THEME = Path("/usr/share/sounds/freedesktop/stereo")


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _read(path: Path) -> np.ndarray:
    x = load_mono(path, SR)
    return (0.9 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def speech(tmp: Path, rng: np.random.Generator, all_pitches: bool = False
           ) -> list[tuple[np.ndarray, list[str], str]]:
    """One clip per word x voice x speed at a random pitch, or (``all_pitches``) one per pitch."""
    out = []
    for word in WORDS:
        for voice, who in VOICES:
            for speed, how in SPEEDS:
                for pitch, tone in (PITCHES if all_pitches else [PITCHES[int(rng.integers(2))]]):
                    wav = tmp / "s.wav"
                    _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), word])
                    caps = [f"{who} says '{word}' {how}", f"{who} saying the word {word} {tone}"]
                    out.append((_read(wav), caps, f"someone saying {word}"))
    return out


def sox_events(tmp: Path, rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, list[str], str]]:
    out = []
    for i in range(n):
        kind = ("beep", "buzz", "chirp", "noise", "pluck")[i % 5]
        dur = f"{rng.uniform(0.8, 1.8):.2f}"
        wav = tmp / "e.wav"
        high = bool(rng.integers(2))
        f = int(rng.uniform(900, 1600) if high else rng.uniform(200, 450))
        pitch = "high" if high else "low"
        if kind == "beep":
            spec, caps, label = ["sine", str(f)], [f"a {pitch} beep", f"a {pitch} pitched tone"], "a beep"
        elif kind == "buzz":
            spec, caps, label = ["square", str(f)], [f"a {pitch} buzz", f"a harsh {pitch} buzzer"], "a buzzer"
        elif kind == "chirp":
            a, b = (300, 3500) if high else (3500, 300)
            d = "rising" if high else "falling"
            spec, caps, label = ["sine", f"{a}-{b}"], [f"a {d} chirp", f"a {d} whistle sweep"], "a chirp"
        elif kind == "noise":
            col = "whitenoise" if high else "brownnoise"
            d = "hissing" if high else "rumbling"
            spec, caps, label = [col], [f"{d} noise", f"a burst of {d} noise"], "noise"
        else:
            spec, caps, label = ["pluck", str(f // 2)], [f"a {pitch} plucked string", f"a {pitch} guitar-like pluck"], "a plucked string"
        _run(["sox", "-n", "-r", str(SR), "-c", "1", "-b", "16", str(wav), "synth", dur, *spec,
              "fade", "0.01", dur, "0.05"])
        out.append((_read(wav), caps, label))
    return out


def _midi(program: int, notes: list[int], path: Path) -> None:
    """A one-track General-MIDI file (hand-written: tiny, and no MIDI library is a dependency)."""
    ev = bytes([0x00, 0xC0, program])
    for n in notes:
        ev += bytes([0x00, 0x90, n, 96]) + bytes([0x83, 0x00, 0x80, n, 0])  # 384 ticks per note
    ev += bytes([0x00, 0xFF, 0x2F, 0x00])
    head = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    path.write_bytes(head + b"MTrk" + struct.pack(">I", len(ev)) + ev)


def instruments(tmp: Path, rng: np.random.Generator, sf2: str, n_each: int) -> list[tuple[np.ndarray, list[str], str]]:
    out = []
    for program, name in INSTRUMENTS:
        for _ in range(n_each):
            up = bool(rng.integers(2))
            base = int(rng.integers(55, 70))
            notes = [base, base + 4, base + 7] if up else [base + 7, base + 4, base]
            mid, wav = tmp / "m.mid", tmp / "m.wav"
            _midi(program, notes, mid)
            _run(["fluidsynth", "-ni", "-g", "1.0", "-r", str(SR), "-F", str(wav), sf2, str(mid)])
            d = "rising" if up else "falling"
            out.append((_read(wav)[: int(2.5 * SR)], [f"{name} playing a {d} melody", f"{d} notes on {name}"], name))
    return out


def theme_sounds() -> list[tuple[np.ndarray, list[str], str]]:
    out = []
    for p in sorted(THEME.glob("*.oga")):
        words = p.stem.replace("-", " ")
        x = _read(p)[: 4 * SR]
        out.append((x, [f"a '{words}' notification sound", f"a computer alert for {words}"], ""))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=cache_dir() / "audio_reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--events", type=int, default=100, help="sox sound events")
    ap.add_argument("--ordered", type=int, default=300, help="ordered pairs")
    ap.add_argument("--instrument-phrases", type=int, default=8, help="phrases per instrument")
    ap.add_argument("--all-pitches", action="store_true",
                    help="speak every word x voice x speed at both pitches (default: one random pitch)")
    args = ap.parse_args()
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        print("espeak-ng/sox not found: writing the pure-numpy set instead")
        generate(args.out, seed=args.seed)
        return
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        clips = speech(tmp, rng, args.all_pitches) + sox_events(tmp, rng, args.events)
        sf2 = next((s for s in SOUNDFONTS if Path(s).is_file()), None)
        if shutil.which("fluidsynth") and sf2:
            clips += instruments(tmp, rng, sf2, args.instrument_phrases)
        theme = theme_sounds() if THEME.is_dir() else []
    rows = []

    def add(name: str, x: np.ndarray, caps: list[str], label: str, boundary: str = "") -> None:
        sf.write(args.out / name, x, SR, subtype="PCM_16")
        rows.extend({"file_name": name, "caption": c, "label": label, "patient_id": name,
                     "boundary_s": boundary} for c in caps)

    for i, (x, caps, label) in enumerate(clips + theme):
        add(f"clip_{i:04d}.wav", x, caps, label)
    short = [c for c in clips if len(c[0]) < 1.6 * SR]
    connectives = ("{a} followed by {b}", "{a} then {b}", "first {a}, then {b}", "{a} before {b}")
    for i in range(args.ordered):
        while True:  # two different kinds of event (same-label pairs have no order to test)
            j, k = rng.choice(len(short), size=2, replace=False)
            (xa, _, la), (xb, _, lb) = short[j], short[k]
            if la != lb:
                break
        gap = np.zeros(int(0.1 * SR), np.float32)
        x = np.concatenate([xa, gap, xb])
        caps = [str(t).format(a=la, b=lb) for t in rng.choice(connectives, size=2, replace=False)]
        add(f"order_{i:04d}.wav", x, caps, "", f"{(len(xa) + len(gap) / 2) / SR:.4f}")
    with open(args.out / "captions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    n_files = len({r["file_name"] for r in rows})
    print(f"wrote {n_files} files, {len(rows)} captions to {args.out}")


if __name__ == "__main__":
    main()
