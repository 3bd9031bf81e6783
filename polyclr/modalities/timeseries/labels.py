"""Labels of recordings: a ``labels.csv``-style table, PhysioNet's header-less ``REFERENCE.csv``,
or header fields (``# Dx:`` SNOMED-CT codes, multi-label). Labels are optional: a recording
without one is unlabelled (used by pre-training only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyclr.errors import DataError
from polyclr.modalities.timeseries.recordings import Recording

_PATIENT_COLUMNS = ("patient", "patient_id", "subject")


@dataclass
class RecordLabels:
    """Labels and patients per record id.

    Attributes:
        labels: record -> label names (one for single-label; several for multi-label); records
            absent are unlabelled.
        patients: record -> patient id (from the table; else the header; else the record).
        multilabel: labels are sets (``# Dx:`` codes or a table with a separator).
        source: where the labels came from ("" when none).
        warnings: what was not used, by name.
    """

    labels: dict[str, list[str]] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    multilabel: bool = False
    source: str = ""
    warnings: list[str] = field(default_factory=list)


def _read(path: Path, header: bool):
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, header=0 if header else None, dtype=str, keep_default_na=True)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, f"cannot read labels table ({' '.join(str(exc).split())[:160]})") from exc


def _key(name: str, known: dict[str, str]) -> str | None:
    """Match a table's record value to a record id (``A00001``, ``A00001.hea``, ``x/A00001.edf``)."""
    name = str(name).strip()
    if name in known:
        return name
    stem = Path(name).stem
    return stem if stem in known else None


def _from_table(path: Path, recs: dict[str, str], record_col: str, label_col: str, patient_col: str,
                separator: str, out: RecordLabels) -> None:
    df = _read(path, header=True)
    cols = {str(c).lower(): c for c in df.columns}
    if record_col.lower() not in cols:
        raise DataError(path, f"labels table has no '{record_col}' column (columns: {', '.join(map(str, df.columns))})")
    rc = cols[record_col.lower()]
    lc = cols.get(label_col.lower())
    pcands = [patient_col] if patient_col else list(_PATIENT_COLUMNS)
    pc = next((cols[c.lower()] for c in pcands if c.lower() in cols), None)
    _apply(path, df[rc].astype(str).tolist(), None if lc is None else df[lc].tolist(),
           None if pc is None else df[pc].astype(str).tolist(), recs, separator, out)


def _apply(path: Path, names: list[str], labels: list | None, patients: list[str] | None,
           recs: dict[str, str], separator: str, out: RecordLabels) -> None:
    keys = [_key(n, recs) for n in names]
    unknown = [n for n, k in zip(names, keys, strict=True) if k is None]
    if len(unknown) == len(names):
        raise DataError(path, f"the table names none of the {len(recs)} records in the folder "
                              f"(e.g. {', '.join(names[:3])})")
    if unknown:
        out.warnings.append(f"{path.name} names {len(unknown)} record(s) not in the folder (not used): "
                            + ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
    seen: set[str] = set()
    for i, k in enumerate(keys):
        if k is None:
            continue
        if k in seen:
            raise DataError(path, f"record '{k}' is listed twice")
        seen.add(k)
        if patients is not None and str(patients[i]).strip() not in ("", "nan"):
            out.patients[k] = str(patients[i]).strip()
        if labels is None:
            continue
        v = labels[i]
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            continue
        v = str(v).strip()
        out.labels[k] = [t.strip() for t in v.split(separator) if t.strip()] if separator else [v]


def record_labels(recs: list[Recording], root: Path, tables: list[Path], table: str = "",
                  record_col: str = "record", label_col: str = "label", patient_col: str = "",
                  separator: str = "") -> RecordLabels:
    """Labels and patients of ``recs`` from (in order): ``table`` if given; ``labels.csv`` (or
    ``.parquet``) with a label column; ``REFERENCE.csv``; header ``# Dx:`` codes; else none."""
    ids = {r.record: r.record for r in recs}
    out = RecordLabels()
    named = {p.name.lower(): p for p in tables}
    chosen: Path | None = None
    if table:
        chosen = Path(table) if Path(table).is_absolute() else root / table
        if not chosen.is_file():
            raise DataError(chosen, "labels table not found (data.labels)")
    else:
        for name in ("labels.csv", "labels.parquet"):
            if name in named:
                df = _read(named[name], header=True)
                if label_col.lower() in {str(c).lower() for c in df.columns}:
                    chosen = named[name]
                    break
                out.warnings.append(f"{name} has no '{label_col}' column: not used for labels (set data.label_column)")
    if chosen is not None:
        _from_table(chosen, ids, record_col, label_col, patient_col, separator, out)
        out.source, out.multilabel = chosen.name, bool(separator)
    elif "reference.csv" in named:
        p = named["reference.csv"]
        df = _read(p, header=False)
        if df.shape[1] < 2:
            raise DataError(p, "REFERENCE.csv needs two columns: record, label")
        _apply(p, df[0].astype(str).tolist(), df[1].tolist(), None, ids, "", out)
        out.source = p.name
    elif any(r.header_labels for r in recs):
        for r in recs:
            if r.header_labels:
                out.labels[r.record] = list(r.header_labels)
        out.source, out.multilabel = "header # Dx", True
    if "reference.csv" in named and out.source and out.source != "REFERENCE.csv":
        out.warnings.append(f"REFERENCE.csv not used: labels come from {out.source}")
    if patient_col and chosen is None:
        raise DataError(root, f"data.patient_column '{patient_col}' needs a labels table with that column")
    for r in recs:
        out.patients.setdefault(r.record, r.patient or r.record)
    return out
