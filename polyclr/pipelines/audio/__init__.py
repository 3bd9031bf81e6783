"""Audio–text pipeline (CLAP-style, CWCL, CompA order negatives, long-form fusion).

``PIPELINE`` is what ``polyclr <command> audio`` drives.
"""

from polyclr.pipelines.audio.config import AudioConfig
from polyclr.pipelines.audio.pipeline import PIPELINE, AudioPipeline

__all__ = ["PIPELINE", "AudioConfig", "AudioPipeline"]
