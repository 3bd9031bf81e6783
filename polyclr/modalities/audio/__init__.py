"""audio modality."""
