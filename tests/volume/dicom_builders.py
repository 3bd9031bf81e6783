"""Small DICOM series, SEG and RTSTRUCT files for the tests, built with pydicom, highdicom and
rt-utils (the libraries polyclr reads them with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def write_series(folder: Path, n: int = 6, rows: int = 12, cols: int = 10, step: float = 2.0,
                 orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), series_uid: str | None = None,
                 patient: str = "PAT-001", study_uid: str | None = None, positions=None,
                 pixel_spacing=(1.0, 1.5), seed: int = 0, prefix: str = "img",
                 orientations=None) -> list[Path]:
    """A single-frame MR series: a bright box in slices 1 .. n-2 on noise; returns the files."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    rng = np.random.default_rng(seed)
    o = np.asarray(orientation, float)
    normal = np.cross(o[:3], o[3:])
    positions = [k * step for k in range(n)] if positions is None else list(positions)
    files = []
    for k, z in enumerate(positions):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{prefix}_{k:03d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MR_STORAGE, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.PatientName = "MR", patient, "Test^Patient"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", "A1"
        ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", 1, k + 1
        ds.Manufacturer = "test"
        oo = np.asarray(orientations[k], float) if orientations is not None else o
        ds.ImageOrientationPatient = [float(v) for v in oo]
        nn = np.cross(oo[:3], oo[3:])
        ds.ImagePositionPatient = [float(v) for v in (np.array([-5.0, -7.0, 3.0]) + float(z) * nn)]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = float(step)
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        img = rng.integers(0, 20, (rows, cols)).astype(np.uint16)
        if 0 < k < len(positions) - 1:
            img[3:8, 2:6] += 500
        ds.PixelData = img.tobytes()
        ds.save_as(str(path), enforce_file_format=True)
        files.append(path)
    del normal
    return files


def box_mask(files: list[Path]) -> np.ndarray:
    """(slices, rows, cols) bool mask of the bright box of :func:`write_series`, in file order."""
    import pydicom

    ds = [pydicom.dcmread(str(f)) for f in files]
    mask = np.stack([d.pixel_array > 200 for d in ds])
    return mask


def write_seg(files: list[Path], path: Path, mask: np.ndarray | None = None) -> Path:
    """A binary DICOM SEG (one segment) of ``mask`` (default: the box) over the series ``files``."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(str(f)) for f in files]
    mask = box_mask(files) if mask is None else mask
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="box", segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[desc],
        series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="test", manufacturer_model_name="test", software_versions="1",
        device_serial_number="1")
    seg.save_as(str(path))
    return path


def write_rtstruct(series_folder: Path, path: Path, mask: np.ndarray, name: str = "box") -> Path:
    """An RTSTRUCT with one ROI drawn from ``mask`` (rows, cols, slices ascending) by rt-utils."""
    from rt_utils import RTStructBuilder

    rt = RTStructBuilder.create_new(dicom_series_path=str(series_folder))
    rt.add_roi(mask=mask.astype(bool), name=name)
    rt.save(str(path))
    return path
