"""timeseries modality."""
