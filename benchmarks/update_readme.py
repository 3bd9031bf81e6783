"""Regenerate README's results section from benchmarks/results/*.csv and docs/results_*.md.

The loss-core table is built here from ``benchmarks/results/loss_core.csv``; each pipeline's
section is the Markdown its own table script wrote to ``docs/results_<area>.md`` (itself generated
from that area's CSV). Usage: python benchmarks/update_readme.py
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
ORDER = ("volume", "timeseries", "timeseries_clinical", "audio", "selection")


def loss_core_section() -> str:
    path = ROOT / "benchmarks" / "results" / "loss_core.csv"
    if not path.is_file():
        return ""
    rows = list(csv.DictReader(path.open()))
    lines = [
        "### Loss core speed and memory (`benchmarks/loss_core.py`)",
        "",
        "Forward + backward, D=128, two-view SimCLR mask; time is the median of repeated runs, "
        "memory the peak RSS above the process's RSS after importing torch.",
        "",
        "| N | implementation | seconds | × lower bound | peak MB | × lower bound |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    flagged = False
    for r in rows:
        ratios = []
        for key in ("ratio_to_lower_bound", "peak_ratio_to_lower_bound"):
            v = float(r[key])
            flagged |= v < 1
            ratios.append(f"{v:.2f}" if v >= 1 else "flagged ‡")
        lines.append(
            f"| {r['n']} | {r['implementation']} | {float(r['seconds_median']):.4f} | "
            f"{ratios[0]} | {float(r['peak_mb_above_import']):.0f} | {ratios[1]} |"
        )
    threads = ", ".join(dict.fromkeys(str(r.get("threads") or "not recorded") for r in rows))
    lines += ["", f"Machine: {rows[0]['machine']}; threads: {threads}; commit "
              f"`{(rows[0]['commit'] or '')[:10]}`; date {rows[0]['date']}. MONAI's `ContrastiveLoss` "
              "builds an (N, N, D) tensor, so it is measured only up to N=1024."]
    if flagged:
        lines += ["", "‡ The lower bound (`logsumexp(z @ z.T / t)` with no masks) was slower "
                  "than the measured implementation in that run, so it was no lower bound there (a "
                  "timing disturbed by the shared machine); no ratio is printed until the row is re-run."]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parts = ["## Results", "", "Every number below is produced by a script in `benchmarks/` "
             "(CSV in `benchmarks/results/`); regenerate this section with "
             "`python benchmarks/update_readme.py`.", ""]
    for area in ORDER:
        p = ROOT / "docs" / f"results_{area}.md"
        if p.is_file():
            # demote the section's headings one level so they sit under "## Results"
            text = "\n".join("#" + ln if ln.startswith("#") else ln for ln in p.read_text().strip().splitlines())
            parts += [text, ""]
    parts.append(loss_core_section())
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + "\n" + "\n".join(parts).rstrip() + "\n" + END + tail)
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
