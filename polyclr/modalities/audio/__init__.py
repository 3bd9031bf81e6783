"""Audio–text modality: I/O, log-mel features, encoders, captions, order negatives, fusion.

Submodules import torch/torchaudio lazily where possible; install with ``pip install polyclr[audio]``.
"""

from polyclr.modalities.audio.io import (
    AudioInfo,
    CaptionTable,
    audio_info,
    check_finite,
    downmix,
    load_audio,
    load_mono,
    read_captions,
)

__all__ = [
    "AudioInfo",
    "CaptionTable",
    "audio_info",
    "check_finite",
    "downmix",
    "load_audio",
    "load_mono",
    "read_captions",
]
