"""Benchmark of the compiled rule set: presearching matcher against one-by-one evaluation.

Generates rule sets (terms, phrases, AND/OR/NOT, NEAR, wildcards, field restrictions) over a
Zipf-distributed vocabulary and ~5 KB articles drawn from it, then prints per-article median and
p99 time, compile time, memory of the compiled set, and the one-by-one baseline (sampled).
Two costs per article are shown: `match` (what the daemon runs: every firing rule with its
hits and marked snippet) and `fired` (which rules fire, without the why), each beside the
same call evaluating every rule one by one over one shared analysis of the article. A third
baseline, `alone`, evaluates each rule by itself, as separate filters are (each rule's test
analyses the fields it reads again): the one-by-one evaluation without a combined matcher.

    .venv/bin/python bench/match.py --sizes 1000,10000,100000 --articles 1000
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
import tracemalloc

from monitor.heap import settle_heap
from monitor.models import Document, RuleSpec
from monitor.query import RuleSet, compile_rules
from monitor.query.document import AnalyzedDocument

STOPWORDS = (  # noqa: SIM905 - a word list reads best as words
    "the of and to a in is it that for on was with as by at be this are from or an have has"
    " had not but he she they we you his her their its were been will would said which who"
).split()
CONSONANTS = "bcdfghjklmnprstvz"
VOWELS = "aeiou"


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = dict.fromkeys(STOPWORDS)
    while len(words) < size:
        syllables = rng.randint(2, 4)
        words["".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables))] = None
    return list(words)


class Corpus:
    def __init__(self, rng: random.Random, size: int = 30_000) -> None:
        self.rng = rng
        self.words = vocabulary(rng, size)
        self.weights = [1.0 / (rank + 1) ** 1.07 for rank in range(len(self.words))]

    def text(self, chars: int) -> str:
        out: list[str] = []
        total = 0
        while total < chars:
            chunk = self.rng.choices(self.words, self.weights, k=100)
            for i, word in enumerate(chunk):
                shown = word.capitalize() if i % 15 == 0 else word
                out.append(shown + ("." if i % 15 == 14 else ""))
            total = sum(len(w) + 1 for w in out)
        return " ".join(out)[:chars]

    def article(self) -> Document:
        return Document(
            title=self.text(70),
            summary=self.text(200),
            text=self.text(5000),
            author="Jane Doe",
            feed="Example World example.com",
            url="https://example.com/world/2024/story",
            tags=("World",),
            lang="en",
        )

    def term(self) -> str:
        # what people monitor: names and topic words, rarely the commonest: ranks drawn
        # log-uniformly from 2000 to the end of the vocabulary
        rank = int(math.exp(self.rng.uniform(math.log(2000), math.log(len(self.words)))))
        return self.words[min(rank, len(self.words) - 1)]

    def phrase(self) -> str:
        return '"' + " ".join(self.term() for _ in range(self.rng.randint(2, 3))) + '"'

    def atom(self) -> str:
        roll = self.rng.random()
        if roll < 0.55:
            return self.term()
        if roll < 0.8:
            return self.phrase()
        if roll < 0.9:
            return self.term()[:5] + "*"
        return "=" + self.term()

    def query(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return self.atom()
        if roll < 0.5:
            return " OR ".join(self.atom() for _ in range(self.rng.randint(2, 4)))
        if roll < 0.65:
            return f"{self.atom()} AND {self.atom()}"
        if roll < 0.75:
            return f"({self.atom()} OR {self.atom()}) NOT {self.atom()}"
        if roll < 0.85:
            name = "ONEAR" if self.rng.random() < 0.3 else "NEAR"
            return f"{name}/{self.rng.randint(3, 10)}({self.term()}, {self.term()})"
        if roll < 0.95:
            return f"title:{self.atom()} OR {self.atom()}"
        return f"{self.atom()} feed:example"


def each_alone(ruleset: RuleSet, doc: Document) -> list[str]:
    """Every rule evaluated by itself: each test gets a fresh analysis of the article."""
    return [
        rule.spec.name
        for rule in ruleset.rules
        if rule.applies_to(doc) and rule.test(AnalyzedDocument(doc))
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size: int, articles: list[Document], corpus: Corpus, baseline_articles: int) -> None:
    specs = [RuleSpec(f"rule{i}", corpus.query()) for i in range(size)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    ruleset = compile_rules(specs)
    compile_seconds = time.perf_counter() - started
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # compile again without tracemalloc for an honest compile time
    del ruleset
    gc.collect()
    started = time.perf_counter()
    ruleset = compile_rules(specs)
    compile_seconds = time.perf_counter() - started

    settle_heap()  # as a worker does once it has compiled the rules
    ruleset.match(articles[0])  # warm the stem cache, as a running daemon has it
    times: list[float] = []
    bare: list[float] = []
    matched = candidates = 0
    for doc in articles:
        started = time.perf_counter()
        matches = ruleset.match(doc)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        ruleset.fired(doc)
        bare.append(time.perf_counter() - started)
        matched += len(matches)
        candidates += len(ruleset.candidates(AnalyzedDocument(doc)))

    sample = articles[:baseline_articles]
    slow: list[float] = []
    slow_bare: list[float] = []
    for doc in sample:
        started = time.perf_counter()
        ruleset.match(doc, presearch=False)
        slow.append(time.perf_counter() - started)
        started = time.perf_counter()
        ruleset.fired(doc, presearch=False)
        slow_bare.append(time.perf_counter() - started)

    few = articles[: max(2, min(20, 30_000 // size))]  # seconds an article at 10,000 rules
    alone: list[float] = []
    for doc in few:
        started = time.perf_counter()
        names = each_alone(ruleset, doc)
        alone.append(time.perf_counter() - started)
        assert names == ruleset.fired(doc)  # both in rule order

    median, bare_median = statistics.median(times), statistics.median(bare)
    alone_median = statistics.median(alone)
    slow_median, slow_bare_median = statistics.median(slow), statistics.median(slow_bare)
    print(
        f"rules={size:>7,}  compile={compile_seconds:6.2f} s  memory={memory / 2**20:7.1f} MiB"
        f"  unindexed={ruleset.unindexed}  candidates/article={candidates / len(articles):.1f}"
        f"  matches/article={matched / len(articles):.1f}\n"
        f"    match: median={median * 1e3:7.3f} ms  p99={percentile(times, 0.99) * 1e3:7.3f} ms"
        f"   one by one ({len(sample)} articles): {slow_median * 1e3:9.3f} ms"
        f"  speed-up={slow_median / median:6.1f}x\n"
        f"    fired: median={bare_median * 1e3:7.3f} ms  p99={percentile(bare, 0.99) * 1e3:7.3f} ms"
        f"   one by one ({len(sample)} articles): {slow_bare_median * 1e3:9.3f} ms"
        f"  speed-up={slow_bare_median / bare_median:6.1f}x\n"
        f"    alone: each rule by itself ({len(few)} articles): {alone_median * 1e3:9.3f} ms"
        f"  speed-up of fired={alone_median / bare_median:7.1f}x"
        f"  of match={alone_median / median:7.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--baseline-articles", type=int, default=0, help="0: scaled to the size")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = Corpus(rng)
    articles = [corpus.article() for _ in range(args.articles)]
    size_kb = statistics.mean(len(a.text) + len(a.title) + len(a.summary) for a in articles) / 1000
    print(f"{len(articles)} articles of {size_kb:.1f} KB, vocabulary {len(corpus.words):,} words")
    for size in (int(s) for s in args.sizes.split(",")):
        sample = args.baseline_articles or max(3, min(len(articles), 2_000_000 // size // 20))
        run(size, articles, corpus, sample)


if __name__ == "__main__":
    main()
