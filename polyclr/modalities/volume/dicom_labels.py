"""DICOM labels: SEG (highdicom) and RTSTRUCT (rt-utils), rasterised onto the referenced image
grid; predictions written back as DICOM SEG (highdicom).

* highdicom reads a SEG into a ``Volume`` (``Segmentation.get_volume``) and places it on the
  image grid with ``Volume.match_geometry`` (permute / flip / pad / crop, never resampling: a SEG
  whose frames do not lie on the image grid is refused); it also writes SEG objects.
* rt-utils turns RTSTRUCT contours into per-slice masks on the referenced series (OpenCV polygon
  filling); highdicom's ``match_geometry`` then maps that stack onto the image grid.

Label values: SEG segment numbers; RTSTRUCT ROIs 1, 2, ... in ROINumber order.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from polyclr._optional import require
from polyclr.errors import DataError
from polyclr.modalities.volume.volume_data import VolumeData, to_ras


def _on_image_grid(label_volume, image: VolumeData, path: Path) -> np.ndarray:
    """A highdicom label ``Volume`` placed onto ``image``'s grid, in ``image``'s RAS array order."""
    from polyclr.modalities.volume.dicom import volume_to_array

    try:
        matched = label_volume.match_geometry(image.geometry)
    except (RuntimeError, ValueError) as exc:
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"label frames do not lie on the grid of the referenced series "
                        f"{image.series.name} ({msg})") from exc
    arr, affine = volume_to_array(matched)
    lab = to_ras(np.rint(arr).astype(np.float32), affine, path)
    if lab.array.shape != image.array.shape or not np.allclose(lab.affine, image.affine, atol=1e-3):
        raise DataError(path, f"label grid {lab.array.shape} differs from its image {image.array.shape}")
    return lab.array.astype(np.int64)


def _require_series(path: Path, image: VolumeData, referenced: str) -> None:
    if image.series is None or image.geometry is None:
        raise DataError(path, "a DICOM SEG / RTSTRUCT label needs a DICOM image series")
    if image.series.uid != referenced:
        raise DataError(path, f"references series ...{referenced[-8:]}, not the image's series "
                        f"{image.series.name}; the referenced series is absent")


def read_seg(path: Path, image: VolumeData) -> np.ndarray:
    """A DICOM SEG as a label map on ``image``'s grid (segment numbers as values).

    Shape:
        returns (X, Y, Z) int64, the shape of ``image.array``.
    """
    hd = require("highdicom", "volume")
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # highdicom refuses malformed SEGs with several exception types
        raise DataError(path, f"not a readable DICOM SEG ({type(exc).__name__}: {str(exc)[:120]})") from exc
    _require_series(path, image, str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID))
    rows, cols = int(seg.Rows), int(seg.Columns)
    g = image.geometry
    if (rows, cols) != tuple(int(v) for v in g.spatial_shape[1:]) and (cols, rows) != tuple(
            int(v) for v in g.spatial_shape[1:]):
        raise DataError(path, f"SEG frames are {rows}x{cols}, the referenced series' images "
                        f"{g.spatial_shape[1]}x{g.spatial_shape[2]}: frames do not match the image grid")
    try:
        vol = seg.get_volume(combine_segments=True, relabel=False, dtype=np.float32)
    except Exception as exc:
        msg = " ".join(str(exc).split())[:160]
        raise DataError(path, f"SEG frames cannot form a volume ({type(exc).__name__}: {msg})") from exc
    return _on_image_grid(vol, image, path)


def read_rtstruct(path: Path, image: VolumeData) -> tuple[np.ndarray, list[str]]:
    """An RTSTRUCT's ROIs rasterised onto ``image``'s grid (ROI i -> value i + 1, ROINumber order;
    where ROIs overlap the later one wins, with a warning).

    Returns:
        ``(labels (X, Y, Z) int64, roi names)``.
    """
    pydicom = require("pydicom", "volume")
    hd = require("highdicom", "volume")
    rt_builder = require("rt_utils", "volume").RTStructBuilder
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    from polyclr.modalities.volume.dicom import _referenced_series

    _require_series(path, image, _referenced_series(ds, path))
    rois = sorted(ds.StructureSetROISequence, key=lambda r: int(r.ROINumber))
    with tempfile.TemporaryDirectory(prefix="polyclr_rt_") as tmp:
        for i, f in enumerate(image.series.files):  # rt-utils reads a whole folder: give it this series
            (Path(tmp) / f"{i:05d}.dcm").symlink_to(f.resolve())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rt = rt_builder.create_from(dicom_series_path=tmp, rt_struct_path=str(path))
            stack = _fill_rois(rt, rois)
        except DataError:
            raise
        except Exception as exc:  # rt-utils raises bare Exception on a wrong reference / bad ROI
            msg = " ".join(str(exc).split())[:160]
            raise DataError(path, f"cannot rasterise the RTSTRUCT onto series {image.series.name} ({msg})") from exc
    first = rt.series_data[0]
    o = np.asarray(first.ImageOrientationPatient, float)
    positions = [float(np.dot(np.cross(o[:3], o[3:]), np.asarray(s.ImagePositionPatient, float)))
                 for s in rt.series_data]
    step = float(np.diff(positions).mean()) if len(positions) > 1 else float(image.spacing[2])
    # the stack is (slice, row, column) ascending along the normal; highdicom's volumes step
    # along minus the normal, so it starts from the last slice
    vol = hd.Volume.from_attributes(
        array=np.ascontiguousarray(stack[::-1]), image_position=rt.series_data[-1].ImagePositionPatient,
        image_orientation=first.ImageOrientationPatient, pixel_spacing=first.PixelSpacing,
        spacing_between_slices=step, coordinate_system="PATIENT")
    return _on_image_grid(vol, image, path), [str(r.ROIName) for r in rois]


def _fill_rois(rt, rois) -> np.ndarray:
    """ROI contours -> (slice, row, column) label stack. rt-utils maps the contour points to pixel
    coordinates; the polygons are filled here on (Rows, Columns) arrays with OpenCV, because
    rt-utils allocates its masks as (Columns, Rows) and clips non-square images.
    """
    import cv2
    from rt_utils import ds_helper, image_helper

    series = rt.series_data
    if not rois:
        raise DataError(None, "RTSTRUCT holds no ROI")
    to_pixels = image_helper.get_patient_to_pixel_transformation_matrix(series)
    stack = np.zeros((len(series), int(series[0].Rows), int(series[0].Columns)), np.float32)
    for value, roi in enumerate(rois, start=1):
        contours = ds_helper.get_contour_sequence_by_roi_number(rt.ds, roi.ROINumber)
        for i, sl in enumerate(series):
            polygons = []
            for data in image_helper.get_slice_contour_data(sl, contours):
                pts = image_helper.apply_transformation_to_3d_points(np.reshape(data, (-1, 3)), to_pixels)
                polygons.append(np.around(pts[:, :2]).astype(np.int32))
            if not polygons:
                continue
            layer = np.zeros(stack.shape[1:], np.uint8)
            cv2.fillPoly(layer, polygons, 1)
            if np.any(stack[i][layer > 0] > 0):
                warnings.warn(f"ROI {roi.ROIName!r} overlaps an earlier ROI; the later ROI wins", stacklevel=2)
            stack[i][layer > 0] = value
    return stack


def load_dicom_label(path: Path, image: VolumeData) -> np.ndarray:
    """Dispatch a DICOM label file to :func:`read_seg` / :func:`read_rtstruct`."""
    from polyclr.modalities.volume.dicom import RTSTRUCT_SOP, SEG_SOPS, _read_header

    sop = str(getattr(_read_header(path), "SOPClassUID", ""))
    if sop in SEG_SOPS:
        return read_seg(path, image)
    if sop == RTSTRUCT_SOP:
        return read_rtstruct(path, image)[0]
    raise DataError(path, "a DICOM label must be a SEG or an RTSTRUCT object")


def write_seg(pred: np.ndarray, image: VolumeData, path: Path, class_names: list[str]) -> Path:
    """Write a RAS label map of ``image`` as a DICOM SEG referencing ``image``'s series.

    Shape:
        pred: (X, Y, Z) integer on ``image``'s RAS grid; value i -> segment i.
    """
    nib = require("nibabel", "volume")
    pydicom = require("pydicom", "volume")
    hd = require("highdicom", "volume")
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(str(f)) for f in image.series.files]
    labels = hd.Volume.from_nibabel(nib.Nifti1Image(pred.astype(np.uint8), image.affine))
    labels = labels.match_geometry(image.geometry)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i, segment_label=name[:64],
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="polyclr", version="1", family=codes.DCM.ArtificialIntelligence))
        for i, name in enumerate(class_names, start=1)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=labels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="polyclr",
        manufacturer_model_name="polyclr", software_versions="polyclr", device_serial_number="0",
        omit_empty_frames=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(str(path))
    return path
