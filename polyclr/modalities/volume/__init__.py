"""volume modality."""
