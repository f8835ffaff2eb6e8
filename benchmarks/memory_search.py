"""Duplicate detection and search latency: bag-of-stems cosine (triage today) against the memory (FTS5 BM25).

    .venv/bin/python benchmarks/memory_search.py                 # the figures of docs/BENCHMARKS.md
    .venv/bin/python benchmarks/memory_search.py --docs 500 --queries 20   # quick

(a) Quality, on the labelled pairs of ``tests/fixtures/memory/duplicate_pairs.yaml`` (duplicates and near
misses, written for this project): every later issue of a pair is a query against every other issue, and
its true duplicate (if any) is the earlier one. For each search, at k = 1 and 3: the precision and recall of
the suggestions triage would make (the top k at the search's threshold: ``duplicates.threshold`` for the
cosine, ``duplicates.memory_threshold`` for the memory), and the recall of the ranking alone (no threshold).
A threshold sweep for each search shows where the defaults sit.

(b) Latency at ``--docs`` documents (synthetic issues drawn from the labelled set's words, fixed seed):
``MemoryIndex.similar`` (what triage asks) and ``MemoryIndex.search`` (the CLI, the API, the tool), p50 and
p95 over ``--queries`` queries, against the linear scan triage does today (the query's bag compared with
every document's bag, the bags computed beforehand as the dispatcher caches them).

Vector search with embeddings is not built yet: no row for it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from uni_wizard.dispatch.config import DuplicateRule
from uni_wizard.dispatch.tokens import Bag, bag_of
from uni_wizard.dispatch.triage import find_duplicates
from uni_wizard.memory import MemoryDoc, MemoryIndex
from uni_wizard.store import Store

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "memory" / "duplicate_pairs.yaml"
REPO = "bench/memory"
Issue = tuple[int, str, str]  # number, title, body
Search = Callable[[Issue, int], list[tuple[int, float]]]


def load_pairs(path: Path = PAIRS) -> tuple[list[Issue], dict[int, set[int]]]:
    """The corpus, and each query (the later issue of every pair) with its true duplicates."""
    pairs = yaml.safe_load(path.read_text())["pairs"]
    corpus: list[Issue] = []
    truth: dict[int, set[int]] = {}
    for i, pair in enumerate(pairs):
        a, b = 2 * i + 1, 2 * i + 2
        corpus += [(a, *pair["a"]), (b, *pair["b"])]
        truth[b] = {a} if pair["dup"] else set()
    return corpus, truth


def _text(issue: Issue) -> str:
    return f"{issue[1]}\n{issue[1]}\n{issue[2]}"


def bag_search(corpus: Sequence[Issue]) -> Search:
    bags: dict[int, Bag] = {issue[0]: bag_of(_text(issue)) for issue in corpus}

    def search(query: Issue, k: int) -> list[tuple[int, float]]:
        rule = DuplicateRule(threshold=1e-9, max_suggestions=k)
        return list(find_duplicates(query[0], bags[query[0]], bags.items(), rule))

    return search


def memory_search(index: MemoryIndex) -> Search:
    def search(query: Issue, k: int) -> list[tuple[int, float]]:
        return [(h.number, h.score) for h in index.similar(REPO, query[0], query[1], query[2], limit=k)]

    return search


def fill(index: MemoryIndex, corpus: Sequence[Issue]) -> None:
    index.put(
        MemoryDoc(f"{REPO}#{n}", REPO, n, "issue", title, body, f"https://forge/{REPO}/issues/{n}")
        for n, title, body in corpus
    )


def quality(
    search: Search, corpus: Sequence[Issue], truth: dict[int, set[int]], k: int, threshold: float
) -> dict[str, float]:
    by_number = {issue[0]: issue for issue in corpus}
    suggested = correct = ranked_hits = 0
    relevant = sum(len(v) for v in truth.values())
    for number, wanted in truth.items():
        found = search(by_number[number], k)
        ranked_hits += len(wanted & {n for n, _ in found})
        kept = [n for n, score in found if score >= threshold]
        suggested += len(kept)
        correct += len(wanted & set(kept))
    return {
        "precision": correct / suggested if suggested else 1.0,
        "recall": correct / relevant if relevant else 1.0,
        "ranked_recall": ranked_hits / relevant if relevant else 1.0,
        "suggested": suggested,
    }


def synthetic(corpus: Sequence[Issue], count: int, seed: int = 19) -> list[Issue]:
    rng = random.Random(seed)
    words = sorted({w for issue in corpus for w in _text(issue).lower().split() if w.isalpha()})
    first = max(issue[0] for issue in corpus) + 1
    return [
        (first + i, " ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=rng.randint(20, 120))))
        for i in range(count)
    ]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[Issue], object], queries: Sequence[Issue]) -> tuple[float, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def measure(args: argparse.Namespace, workdir: Path) -> list[str]:
    corpus, truth = load_pairs()
    index = MemoryIndex(Store(workdir / "quality.db"))
    fill(index, corpus)
    rule = DuplicateRule()
    searches: list[tuple[str, Search, float]] = [
        ("bag-of-stems cosine (triage today)", bag_search(corpus), rule.threshold),
        ("memory: FTS5 BM25", memory_search(index), rule.memory_threshold),
    ]
    lines = [
        f"(a) duplicate detection: {len(truth)} queries, {sum(map(len, truth.values()))} true duplicates, "
        f"{len(corpus)} issues ({PAIRS.name})",
        "",
        "| search | threshold | k | precision | recall | suggestions | recall of the ranking |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, search, threshold in searches:
        for k in (1, 3):
            q = quality(search, corpus, truth, k, threshold)
            lines.append(
                f"| {name} | {threshold:g} | {k} | {q['precision']:.2f} | {q['recall']:.2f} | {q['suggested']:.0f} "
                f"| {q['ranked_recall']:.2f} |"
            )
    lines += ["", "threshold sweep at k = 3 (precision / recall):", ""]
    lines += ["| threshold | " + " | ".join(name for name, _, _ in searches) + " |", "|---" * (1 + len(searches)) + "|"]
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        cells = []
        for _, search, _ in searches:
            q = quality(search, corpus, truth, 3, threshold)
            cells.append(f"{q['precision']:.2f} / {q['recall']:.2f}")
        lines.append(f"| {threshold:g} | " + " | ".join(cells) + " |")
    big = MemoryIndex(Store(workdir / "latency.db"))
    documents = [*corpus, *synthetic(corpus, max(0, args.docs - len(corpus)))]
    started = time.perf_counter()
    fill(big, documents)
    indexed = time.perf_counter() - started
    asked = [issue for issue in corpus if issue[0] in truth][: args.queries]
    scan = bag_search(documents)
    rows = [
        ("linear scan: bag-of-stems cosine against every document (baseline)", lambda q: scan(q, 3)),
        (
            "`MemoryIndex.similar` (triage's duplicates, FTS5 BM25)",
            lambda q: big.similar(REPO, q[0], q[1], q[2], limit=3),
        ),
        ("`MemoryIndex.search` (CLI, API, tool; FTS5 BM25)", lambda q: big.search(f"{q[1]} {q[2]}", limit=10)),
    ]
    lines += [
        "",
        f"(b) latency at {len(documents):,} documents ({len(asked)} queries; indexing them took {indexed:.1f} s)",
        "",
        "| search | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    for name, fn in rows:
        p50, p95 = timed(fn, asked)
        lines.append(f"| {name} | {p50:.2f} | {p95:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=10_000, help="documents in the index for the latency (b)")
    parser.add_argument("--queries", type=int, default=62, help="queries timed in (b), from the labelled set")
    args = parser.parse_args(argv)
    if args.docs < 1 or args.queries < 1:
        parser.error("--docs and --queries must be at least 1")
    command = "command: `.venv/bin/python benchmarks/memory_search.py"
    command += "`" if argv is None or not argv else " " + " ".join(argv) + "`"
    with tempfile.TemporaryDirectory() as tmp:
        text = "\n".join([command, "", *measure(args, Path(tmp))])
    print(text)
    return text


if __name__ == "__main__":
    main()
