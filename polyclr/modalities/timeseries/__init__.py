"""Time series: data model with patient/trial ids, readers, augmentations (fixed + parametric),
encoders (TS2Vec dilated CNN, tsai backbones), objectives (TS2Vec, COMET, AutoTCL, DBPM) and a
multi-patient ECG simulator."""

from polyclr.modalities.timeseries.data import ChannelNormalizer, TimeSeriesData, build_dataset
from polyclr.modalities.timeseries.io import load_dataset, window_dataset

__all__ = ["ChannelNormalizer", "TimeSeriesData", "build_dataset", "load_dataset", "window_dataset"]
