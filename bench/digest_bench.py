"""Digest render time per subscriber, for many subscribers (no SMTP: build, select, render, MIME).

    python bench/digest_bench.py --db demo.db --week 2026-W46 --subscribers 1000

Subscribers are synthetic and varied: the three profiles, one to three topics, some with vendors,
in English, French and German. The week is read from the database once, as `kb digest` does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from kb.publish.digest.build import IsoWeek, build_week, select_digest
from kb.publish.digest.render import build_message, message_id, render_digest, unsubscribe_link
from kb.publish.digest.subscribers import PROFILES, Subscriber
from kb.store.connection import open_db

TOPICS = ["sovereignty", "open-source", "regulation", "export-controls", "funding"]


def synthetic_subscribers(n: int, vendors: list[str], seed: int = 7) -> list[Subscriber]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        profile = rng.choice([None, *PROFILES])
        topics = list(PROFILES[profile]["topics"]) if profile else rng.sample(TOPICS, rng.randint(0, 3))
        chosen = rng.sample(vendors, min(len(vendors), rng.randint(0, 2))) if rng.random() < 0.4 else []
        out.append(Subscriber(email=f"reader{i}@example.org", topics=topics, vendors=chosen, profile=profile,
                              lang=rng.choice(["en", "en", "en", "fr", "de"]), token=f"token-{i}", id=i + 1))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="demo.db", help="an enriched knowledge base (make demo-build)")
    parser.add_argument("--week", default="2026-W46")
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args()
    if not Path(args.db).exists():
        raise SystemExit(f"Error: no database at {args.db}: run 'make demo-build' first")
    db = open_db(args.db, create=False)
    started = time.perf_counter()
    data = build_week(db, week=IsoWeek.parse(args.week))
    build_s = time.perf_counter() - started
    vendors = [c.key for c in data.vendor_counts] or ["Mistral AI"]
    subscribers = synthetic_subscribers(args.subscribers, vendors)
    render_ms: list[float] = []
    message_ms: list[float] = []
    sizes: list[int] = []
    render_digest(select_digest(data, subscribers[0]))  # compile the templates outside the timing
    sender = "digest@aiwatch.example"
    total_started = time.perf_counter()
    for sub in subscribers:
        t0 = time.perf_counter()
        unsubscribe = unsubscribe_link(sender, sub.token)
        rendered = render_digest(select_digest(data, sub), unsubscribe=unsubscribe)
        t1 = time.perf_counter()
        msg = build_message(rendered, to=sub.email, mail_from=sender, unsubscribe=unsubscribe,
                            msgid=message_id(data.week, sub.token, sender))
        raw = msg.as_bytes()
        t2 = time.perf_counter()
        render_ms.append((t1 - t0) * 1000)
        message_ms.append((t2 - t1) * 1000)
        sizes.append(len(raw))
    total_s = time.perf_counter() - total_started
    print(f"{args.subscribers} subscribers, week {data.week.label}: {data.article_count} articles, "
          f"{len(data.stories)} stories, {len(data.funding)} funding rounds")
    print(f"build_week (once): {build_s * 1000:.1f} ms")
    print(f"{'step (per subscriber)':<34} {'mean ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    both = [a + b for a, b in zip(render_ms, message_ms, strict=True)]
    for name, values in (("select + render (text + HTML)", render_ms),
                         ("MIME message (headers, both parts)", message_ms), ("total", both)):
        print(f"{name:<34} {statistics.mean(values):>8.2f} {percentile(values, 0.5):>8.2f} "
              f"{percentile(values, 0.95):>8.2f} {max(values):>8.2f}")
    print(f"all {args.subscribers} subscribers, both steps: {total_s:.2f} s; "
          f"mean message size {statistics.mean(sizes) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
