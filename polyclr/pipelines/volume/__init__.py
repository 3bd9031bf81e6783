"""The volume pipeline (``polyclr <command> volume``); see :mod:`polyclr.pipelines.volume.pipeline`."""

from polyclr.pipelines.volume.pipeline import PIPELINE

__all__ = ["PIPELINE"]
