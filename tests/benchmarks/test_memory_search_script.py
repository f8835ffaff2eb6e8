"""The memory search benchmark runs end to end (tiny sizes; no timing is asserted), and on the labelled pairs the
memory finds every true duplicate in its top 3, as the figures of docs/BENCHMARKS.md say."""

from __future__ import annotations

import memory_search


def test_memory_benchmark_runs_and_reports_every_row() -> None:
    text = memory_search.main(["--docs", "300", "--queries", "5"])
    assert "command: `.venv/bin/python benchmarks/memory_search.py --docs 300 --queries 5`" in text
    assert "(a) duplicate detection: 62 queries, 31 true duplicates, 124 issues" in text
    rows = {tuple(c.strip() for c in line.split("|")[1:4]): line for line in text.splitlines() if line.startswith("| ")}
    for search, threshold in (("bag-of-stems cosine (triage today)", "0.6"), ("memory: FTS5 BM25", "0.4")):
        for k in ("1", "3"):
            assert (search, threshold, k) in rows, (search, k)
    ranked = rows[("memory: FTS5 BM25", "0.4", "3")].split("|")[7].strip()
    assert ranked == "1.00"  # the ranking alone: every true duplicate among the top 3
    assert "(b) latency at 300 documents (5 queries" in text
    for row in ("| linear scan: bag-of-stems cosine", "| `MemoryIndex.similar`", "| `MemoryIndex.search`"):
        assert row in text


def test_the_labelled_set_is_balanced_and_every_pair_is_two_issues() -> None:
    corpus, truth = memory_search.load_pairs()
    assert (
        len(truth) >= 60 and sum(1 for v in truth.values() if v) >= 30 and sum(1 for v in truth.values() if not v) >= 30
    )
    assert all(title and body for _, title, body in corpus)
