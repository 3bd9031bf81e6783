"""The time-series pipeline: ``polyclr pretrain|finetune|evaluate|run|check|embed timeseries``."""

from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.pipeline import TimeSeriesPipeline

PIPELINE = TimeSeriesPipeline()

__all__ = ["PIPELINE", "TimeSeriesConfig", "TimeSeriesPipeline"]
