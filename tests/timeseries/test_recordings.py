"""Recordings: WFDB / EDF / BDF / CSV / Parquet readers on files written here with the same
libraries, labels tables, mixed folders, windowing, NaN gaps, aggregation, bad input."""

from pathlib import Path

import numpy as np
import pytest

from polyclr.errors import DataError
from polyclr.modalities.timeseries.folder import RecordingOptions, load_recordings, scan_folder
from polyclr.modalities.timeseries.recordings import read_edf
from polyclr.modalities.timeseries.wfdb_records import read_annotations, read_wfdb
from polyclr.modalities.timeseries.windows import WindowSpec

wfdb = pytest.importorskip("wfdb")
edfio = pytest.importorskip("edfio")


def _signal(n=1000, c=2, fs=100.0, seed=0):
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    return np.stack([np.sin(2 * np.pi * (1 + k) * t) + 0.05 * rng.normal(size=n) for k in range(c)], 1)


def write_wfdb(folder: Path, name: str, n=1000, fs=100, names=("I", "II"), comments=(), seed=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sig = _signal(n, len(names), fs, seed)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(names), sig_name=list(names), p_signal=sig, fmt=["16"] * len(names),
                adc_gain=[1000.0] * len(names), baseline=[0] * len(names), comments=list(comments),
                write_dir=str(folder))
    return folder / f"{name}.hea"


def write_edf(path: Path, n=2000, fs=200, names=("I", "II"), seed=0, bdf=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sig = _signal(n, len(names), fs, seed)
    cls = edfio.Bdf if bdf else edfio.Edf
    scls = edfio.BdfSignal if bdf else edfio.EdfSignal
    rec = cls([scls(sig[:, k], sampling_frequency=fs, label=nm, physical_dimension="mV",
                    physical_range=(-5, 5)) for k, nm in enumerate(names)])
    rec.write(path)
    return path


def test_wfdb_roundtrip_and_date_first_header(tmp_path):
    hea = write_wfdb(tmp_path, "r1", comments=["Dx: 426783006,427084000", "Age: 50"])
    rec = read_wfdb(hea)
    assert rec.fs == 100 and rec.channels == ["I", "II"] and rec.units == ["mV", "mV"] and rec.n_samples == 1000
    assert rec.header_labels == ["426783006", "427084000"]
    x = rec.read(100, 300, [1])
    np.testing.assert_allclose(x[0], _signal()[100:300, 1], atol=2e-3)
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " 2 100 1000 2014-05-08 05:05:15"  # CinC 2017 style: wfdb rejects it
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError):
        wfdb.rdheader(str(tmp_path / "r1"))
    np.testing.assert_array_equal(read_wfdb(hea).read(100, 300, [1]), x)


@pytest.mark.parametrize("kind,needle", [
    ("truncated", "truncated signal file"), ("longer", "disagree"), ("fmt", "unknown WFDB format"),
    ("missing_dat", "is missing"),
])
def test_wfdb_bad(tmp_path, kind, needle):
    hea = write_wfdb(tmp_path, "r1")
    dat = tmp_path / "r1.dat"
    if kind == "truncated":
        dat.write_bytes(dat.read_bytes()[:-100])
    elif kind == "longer":
        hea.write_text(hea.read_text().replace(" 2 100 1000", " 2 100 900", 1))
    elif kind == "fmt":
        hea.write_text(hea.read_text().replace("r1.dat 16 ", "r1.dat 99 "))
    else:
        dat.unlink()
    with pytest.raises(DataError) as err:
        read_wfdb(hea)
    assert needle in str(err.value) and "r1." in str(err.value)


def test_annotations_inside_and_outside(tmp_path):
    hea = write_wfdb(tmp_path, "r1")
    wfdb.wrann("r1", "atr", np.array([10, 500]), symbol=["N", "+"], aux_note=["", "(AFIB"], write_dir=str(tmp_path))
    sample, symbol, aux = read_annotations(read_wfdb(hea))
    assert sample.tolist() == [10, 500] and symbol == ["N", "+"] and aux[1] == "(AFIB"
    wfdb.wrann("r1", "atr", np.array([10, 5000]), symbol=["N", "N"], write_dir=str(tmp_path))
    with pytest.raises(DataError, match="outside the signal"):
        load_recordings(tmp_path)


@pytest.mark.parametrize("bdf", [False, True])
def test_edf_bdf_roundtrip(tmp_path, bdf):
    p = write_edf(tmp_path / ("a.bdf" if bdf else "a.edf"), bdf=bdf)
    rec = read_edf(p)
    assert rec.fs == 200 and rec.channels == ["I", "II"] and rec.n_samples == 2000 and rec.units == ["mV", "mV"]
    np.testing.assert_allclose(rec.read(400, 600)[0], _signal(2000, 2, 200)[400:600, 0], atol=1e-3)


def test_edf_truncated_refused(tmp_path):
    p = write_edf(tmp_path / "a.edf")
    p.write_bytes(p.read_bytes()[:-1000])
    with pytest.raises(DataError, match="a.edf.*disagree"):
        read_edf(p)


def test_edf_channel_sets_and_selection(tmp_path):
    write_edf(tmp_path / "a.edf", names=("Fp1", "Fp2"))
    write_edf(tmp_path / "b.edf", names=("Fp1", "Cz"))
    with pytest.raises(DataError, match="b.edf.*data.channels"):
        load_recordings(tmp_path)
    d = load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=2, channels=["fp1"])))
    assert d.n_channels == 1 and d.channel_names == ["fp1"] and len(d.trial_names) == 2
    with pytest.raises(DataError, match="a.edf.*'Pz'"):
        load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=2, channels=["Pz"])))


def test_mixed_folder_reads_every_format_and_names_the_rest(tmp_path):
    import pandas as pd

    write_wfdb(tmp_path, "w1", n=1000, fs=100)
    write_edf(tmp_path / "e1.edf", n=2000, fs=200)
    t = np.arange(500) / 50.0
    pd.DataFrame({"time": t, "I": np.sin(t), "II": np.cos(t)}).to_csv(tmp_path / "c1.csv", index=False)
    pd.DataFrame({"time": t, "I": np.sin(t), "II": np.cos(t)}).to_parquet(tmp_path / "p1.parquet")
    (tmp_path / "notes.xyz").write_text("?")
    with pytest.raises(DataError, match="differs.*data.sampling_rate"):
        load_recordings(tmp_path)
    d = load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=2, rate=100)))
    assert sorted(d.trial_names) == ["c1", "e1", "p1", "w1"]
    assert any("notes.xyz" in n for n in d.notes)
    assert d.X.shape[1:] == (2, 200) and (d.y == -1).all()
    assert len(d.X) == 4 * 5  # 10 s each, 2 s windows


def test_labels_table_patients_and_warnings(tmp_path):
    for i in range(4):
        write_wfdb(tmp_path, f"r{i}", seed=i)
    (tmp_path / "labels.csv").write_text("record,label,patient\nr0,A,p1\nr1,B,p1\nr2,A,p2\nghost,B,p3\n")
    d = load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=5)))
    assert any("ghost" in n for n in d.notes)
    by_rec = {d.trial_names[t]: (d.y[d.trial_id == t][0], d.patient_id[d.trial_id == t][0]) for t in np.unique(d.trial_id)}
    assert by_rec["r3"][0] == -1 and by_rec["r0"][0] == by_rec["r2"][0] != by_rec["r1"][0]
    assert by_rec["r0"][1] == by_rec["r1"][1] != by_rec["r2"][1]
    (tmp_path / "labels.csv").write_text("record,label\nx1,A\nx2,B\n")
    with pytest.raises(DataError, match="labels.csv: the table names none"):
        load_recordings(tmp_path)


def test_reference_csv_and_dx_multilabel(tmp_path):
    write_wfdb(tmp_path / "a", "r0", comments=["Dx: 1,2"])
    write_wfdb(tmp_path / "a", "r1", comments=["Dx: 2"])
    d = load_recordings(tmp_path / "a", RecordingOptions(window=WindowSpec(seconds=10)))
    assert d.multilabel and d.classes == ["1", "2"] and d.Y.tolist() == [[1, 1], [0, 1]]
    (tmp_path / "a" / "REFERENCE.csv").write_text("r0,N\nr1,A\n")
    d = load_recordings(tmp_path / "a", RecordingOptions(window=WindowSpec(seconds=10)))
    assert not d.multilabel and d.classes == ["A", "N"] and d.y.tolist() == [1, 0]


def test_windowing_seconds_stride_resample_and_padding(tmp_path):
    write_wfdb(tmp_path, "r0", n=1000, fs=100)  # 10 s
    write_wfdb(tmp_path, "r1", n=250, fs=100, seed=1)  # 2.5 s: one padded window
    d = load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=4, stride=2, rate=50)))
    per = np.bincount(d.trial_id)
    assert d.X.shape[2] == 200 and per.tolist() == [4, 1]  # starts 0, 2, 4, 6 s
    assert d.lengths[d.trial_id == 1][0] == 125 and np.isnan(d.X[d.trial_id == 1][0, :, 125:]).all()


def test_nan_gaps_masked_or_split(tmp_path):
    import pandas as pd

    x = np.sin(np.arange(3000) / 10.0)
    x[500:520] = np.nan  # 0.2 s gap: kept inside a window, masked
    x[2000:2300] = np.nan  # 3 s gap: splits the recording
    pd.DataFrame({"time": np.arange(3000) / 100.0, "a": x}).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame({"time": np.arange(300) / 100.0, "a": np.ones(300)}).to_csv(tmp_path / "s.csv", index=False)
    d = load_recordings(tmp_path, RecordingOptions(window=WindowSpec(seconds=5, max_gap=1.0)))
    r = d.X[d.trial_id == d.trial_names.index("r")]
    # segments [0, 2000) and [2300, 3000): 4 + 1 windows (the 2 s tail is unused), none crosses the long gap
    assert len(r) == 5 and np.isnan(r[0]).sum() == 0 and np.isnan(r[1]).sum() == 20
    np.testing.assert_allclose(r[4, 0], x[2300:2800], atol=1e-6)


def test_streamed_windows_match_memory(tmp_path):
    from polyclr.modalities.timeseries.windows import StreamedWindows

    write_wfdb(tmp_path, "r0", n=1200, fs=100)
    spec = WindowSpec(seconds=3, stride=2)
    d = load_recordings(tmp_path, RecordingOptions(window=spec))
    recs = scan_folder(tmp_path).recordings
    s = StreamedWindows(recs, np.zeros(1), spec, 100.0, ["I", "II"], chunk=250)
    assert len(s) == len(d.X)
    for i in range(len(s)):
        np.testing.assert_array_equal(s[i]["x"].numpy(), d.X[i])


def test_aggregate_and_multilabel_metrics():
    from polyclr.evaluation import multilabel_metrics
    from polyclr.modalities.timeseries.windows import aggregate, segments

    ids, p = aggregate(np.array([[1.0, 0], [0, 1.0], [0.2, 0.8]]), np.array([5, 5, 2]))
    assert ids.tolist() == [2, 5] and p.tolist() == [[0.2, 0.8], [0.5, 0.5]]
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    m = multilabel_metrics(Y, np.array([[0.9, 0.2], [0.1, 0.7], [0.8, 0.6], [0.3, 0.4]]))
    assert m["auroc"] == 1.0 and m["macro_f1"] == 1.0 and m["accuracy"] == 1.0
    m = multilabel_metrics(Y, np.array([[0.1, 0.2], [0.9, 0.7], [0.8, 0.6], [0.3, 0.4]]))
    assert m["auroc"] == pytest.approx((0.25 + 1.0) / 2) and m["macro_f1"] == pytest.approx((0.5 + 1.0) / 2)
    missing = np.zeros(10, dtype=bool)
    missing[[0, 4, 5, 6, 9]] = True
    assert segments(missing, 2) == [(1, 4), (7, 9)] and segments(missing, 3) == [(1, 9)]


def test_zero_rate_and_cli_one_line(tmp_path, capsys):
    from polyclr.cli import main

    hea = write_wfdb(tmp_path, "r0")
    hea.write_text(hea.read_text().replace(" 2 100 1000", " 2 0 1000", 1))
    out = tmp_path / "out"
    assert main(["run", "timeseries", "--data", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "r0.hea" in err[0] and not out.exists()


def test_unlabelled_pretrain_then_finetune_refused(tmp_path, capsys):
    from polyclr.cli import main

    for i in range(4):
        write_wfdb(tmp_path / "d", f"r{i}", n=600, seed=i)
    out = tmp_path / "pre"
    args = ["--set", "engine.max_steps=2", "--set", "engine.logger=none", "--set", "data.window_seconds=2",
            "--set", "encoder.depth=2", "--set", "encoder.output_dims=16"]
    assert main(["pretrain", "timeseries", "--data", str(tmp_path / "d"), "--out", str(out)] + args) == 0
    assert (out / "encoder.safetensors").is_file()
    ft = tmp_path / "ft"
    assert main(["finetune", "timeseries", "--data", str(tmp_path / "d"), "--out", str(ft)] + args) == 2
    assert "no labelled recording" in capsys.readouterr().err and not ft.exists()


SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared real data (../shared/data) not present")
@pytest.mark.parametrize("name,n", [("cinc2017_af_ecg", 200), ("cinc2021_ecg12", 50), ("cpsc2021_paf", 18),
                                    ("eegmat_mental_arithmetic", 44)])
def test_real_folders_read(name, n):
    scan = scan_folder(SHARED / name)
    assert len(scan.recordings) == n
    r = scan.recordings[0]
    x = r.read(0, min(r.n_samples, 500))
    assert x.shape == (len(r.channels), min(r.n_samples, 500)) and np.isfinite(x).all()


def test_direct_format16_reader_equals_wfdb(tmp_path):
    hea = write_wfdb(tmp_path, "r1")
    raw = np.fromfile(tmp_path / "r1.dat", dtype="<i2")
    raw[7] = -32768  # WFDB's invalid-sample code: NaN
    raw.tofile(tmp_path / "r1.dat")
    ref = wfdb.rdrecord(str(tmp_path / "r1"), sampfrom=3, sampto=900, channels=[1, 0]).p_signal.T
    got = read_wfdb(hea).read(3, 900, [1, 0])
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    assert np.isnan(got[0, 0]) and np.isnan(ref[0, 0])  # frame 3, channel 1


@pytest.mark.parametrize("multilabel", [False, True])
def test_run_on_recordings_scores_windows_and_recordings(tmp_path, multilabel):
    import json

    from polyclr.cli import main

    d = tmp_path / "d"
    for i in range(8):
        dx = ["Dx: 1,2" if i % 2 else "Dx: 2"] if multilabel else []
        write_wfdb(d, f"r{i}", n=600, seed=i, comments=dx)
    if not multilabel:  # two unlabelled recordings: pre-training only
        (d / "labels.csv").write_text("record,label\n" + "".join(f"r{i},{'AB'[i % 2]}\n" for i in range(6)))
    out = tmp_path / "run"
    args = ["--set", "engine.max_steps=2", "--set", "engine.logger=none", "--set", "data.window_seconds=2",
            "--set", "encoder.depth=2", "--set", "encoder.output_dims=16", "--set", "downstream.finetune_steps=2",
            "--set", "downstream.seeds=[0]", "--set", "downstream.label_fractions=[1.0]",
            "--set", "downstream.methods=[linear_probe,pretrained]", "--set", "downstream.plots=false",
            "--set", "data.test_size=0.5"]
    assert main(["run", "timeseries", "--data", str(d), "--out", str(out)] + args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["multilabel"] is multilabel
    assert m["n_pretrain"] > m["n_train"] if not multilabel else m["n_pretrain"] >= m["n_train"]
    row = m["rows"][0]
    assert "recording_macro_f1" in row and row["recordings"] >= 1



def test_multi_segment_record(tmp_path):
    write_wfdb(tmp_path, "seg1", n=1000, seed=1)
    write_wfdb(tmp_path, "seg2", n=500, seed=2)
    (tmp_path / "multi.hea").write_text("multi/2 2 100 1500\nseg1 1000\nseg2 500\n")
    rec = read_wfdb(tmp_path / "multi.hea")
    assert rec.n_samples == 1500 and rec.channels == ["I", "II"]
    x = rec.read(900, 1100)
    np.testing.assert_allclose(x[:, :100], read_wfdb(tmp_path / "seg1.hea").read(900, 1000), atol=1e-6)
    np.testing.assert_allclose(x[:, 100:], read_wfdb(tmp_path / "seg2.hea").read(0, 100), atol=1e-6)
    assert [r.record for r in scan_folder(tmp_path).recordings] == ["multi"]  # segments not read twice


def test_comet_levels_use_patients_and_recordings(tmp_path):
    """Patient -> recording -> window: COMET's trial level pairs windows of one recording, its
    patient level windows of one patient (from the labels table's patient column)."""
    from polyclr.cli import main
    from polyclr.modalities.timeseries.sampler import HierarchicalBatchSampler

    d = tmp_path / "d"
    for i in range(6):
        write_wfdb(d, f"r{i}", n=800, seed=i)
    (d / "labels.csv").write_text("record,label,patient\n" + "".join(f"r{i},{'AB'[i % 2]},p{i // 2}\n" for i in range(6)))
    data = load_recordings(d, RecordingOptions(window=WindowSpec(seconds=2)))
    assert len(np.unique(data.patient_id)) == 3 and len(np.unique(data.trial_id)) == 6
    sampler = HierarchicalBatchSampler(data.trial_id, data.patient_id, batch_size=8, per_trial=2)
    for batch in sampler:
        trials, counts = np.unique(data.trial_id[batch], return_counts=True)
        assert (counts >= 2).all()
    out = tmp_path / "pre"
    assert main(["pretrain", "timeseries", "--data", str(d), "--out", str(out), "--set", "objective.name=comet",
                 "--set", "engine.max_steps=2", "--set", "engine.logger=none", "--set", "data.window_seconds=2",
                 "--set", "encoder.depth=2", "--set", "encoder.output_dims=16", "--set", "data.test_size=0.34"]) == 0
