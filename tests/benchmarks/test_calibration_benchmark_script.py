"""The calibration benchmark runs end to end at small sizes and the shipped model beats both baselines."""

from __future__ import annotations

import re

import calibration


def _scores(section: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| (.+?) \| (0\.\d{4}) \|$", section, re.M)}


def test_calibration_benchmark_reports_brier_scores_and_reliability() -> None:
    text = calibration.main(["--calls", "240", "--synthetic", "1500", "--seed", "7"])
    assert "command: `.venv/bin/python benchmarks/calibration.py --calls 240 --synthetic 1500 --seed 7`" in text
    own, synthetic = text.split("### (b)")
    assert "left out as not outcomes of a tool that ran:" in own and " denied" in own
    for section in (own, synthetic):
        scores = _scores(section)
        shipped = scores[calibration.SHIPPED]
        assert shipped < scores[calibration.BaseRate.name] and shipped < scores[calibration.Laplace.name], scores
        assert "| predicted | outcomes | mean predicted | observed success |" in section
        buckets = re.findall(r"^\| (\d\.\d) to (\d\.\d) \| (\d+) \|", section, re.M)
        assert len(buckets) >= 3
        outcomes = int(re.search(r"(\d+) outcomes, ", section).group(1))  # type: ignore[union-attr]
        assert sum(int(n) for _, _, n in buckets) == outcomes  # every prediction falls in one bucket
