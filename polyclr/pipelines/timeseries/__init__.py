"""The time-series pipeline (``polyclr <command> timeseries``); see
:mod:`polyclr.pipelines.timeseries.pipeline`."""

from polyclr.pipelines.timeseries.pipeline import PIPELINE

__all__ = ["PIPELINE"]
