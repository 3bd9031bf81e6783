"""The audio–text pipeline (``polyclr <command> audio``); see :mod:`polyclr.pipelines.audio.pipeline`."""

from polyclr.pipelines.audio.pipeline import PIPELINE

__all__ = ["PIPELINE"]
