"""Recall of the sign-code shortlist on real sentence embeddings, at the share of rows that
kb.search.vectors re-ranks exactly (and at half and twice that share).

    python bench/vector_recall.py --aeb ../shared/aeb [--sample sample]

Embeds every sentence of the article-extraction benchmark's ground-truth texts and of the sample
corpus with all-MiniLM-L6-v2, then asks each of 300 held-out sentences for its 10 nearest
neighbours, exactly and through the shortlist. Random vectors (search_bench.py) are the worst case
for any shortlist; this is the case that matters.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb.enrich.embed import get_embedder  # noqa: E402
from kb.search.vectors import BINARY_SHORTLIST_SHARE, VectorIndex, sign_codes  # noqa: E402


def sentences(aeb: Path | None, sample: Path) -> list[str]:
    texts = []
    if aeb is not None:
        truth = json.loads((aeb / "ground-truth.json").read_text())
        texts += [v.get("articleBody", "") if isinstance(v, dict) else str(v) for v in truth.values()]
    for f in sorted((sample / "articles").glob("*.yaml")):
        texts += [a.get("text", "") for a in yaml.safe_load(f.read_text())]
    out = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t or "")]
    return sorted({s for s in out if 40 <= len(s) <= 400})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aeb", type=Path, help="the article-extraction benchmark folder")
    parser.add_argument("--sample", type=Path, default=Path("sample"))
    args = parser.parse_args()
    if args.aeb is not None:
        found = [d for d in (args.aeb, args.aeb / "data") if (d / "ground-truth.json").exists()]
        if not found:
            sys.exit(f"Error: no ground-truth.json in {args.aeb} or {args.aeb / 'data'}")
        args.aeb = found[0]
    if args.aeb is None:
        print("no --aeb given: the sample corpus's sentences only")
    texts = sentences(args.aeb, args.sample)
    vectors = get_embedder().encode(texts)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(texts))
    queries, base = vectors[order[:300]], vectors[order[300:]]
    ids = np.arange(1, len(base) + 1)
    exact = VectorIndex("m", ids, base, stamp=(0, 0))
    share = BINARY_SHORTLIST_SHARE
    centre = base.mean(axis=0)
    print(f"{len(base):,} sentence vectors, 300 queries; shortlist share {share:.2%} "
          f"(as kb.search.vectors uses)\n\n| codes | shortlist | recall@10 |\n| --- | --- | --- |")
    for label, c in (("sign", None), ("sign about the mean", centre)):
        for factor in (0.5, 1, 2):
            size = max(10, int(len(base) * share * factor))
            approx = dataclasses.replace(exact, codes=np.ascontiguousarray(sign_codes(base, c).T),
                                         centre=c)
            got = [approx_search(approx, q, size) for q in queries]
            want = [{a for a, _ in exact.search(q, limit=10)} for q in queries]
            recall = np.mean([len(g & w) / 10 for g, w in zip(got, want, strict=True)])
            print(f"| {label} | {size:,} ({factor}x) | {recall:.3f} |")


def approx_search(index: VectorIndex, query: np.ndarray, size: int) -> set[int]:
    rows = index.shortlist(query, 1, size=size)
    scores = index.matrix[rows] @ query
    return {int(index.article_ids[rows[i]]) for i in np.argsort(-scores)[:10]}


if __name__ == "__main__":
    main()
