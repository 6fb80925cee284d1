"""The `kb eval` table."""

from __future__ import annotations

from typing import Any


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _prf_row(name: str, scores: dict[str, Any] | None) -> str:
    if not scores:
        return f"{name:<34} {'n/a':>9} {'n/a':>7} {'n/a':>6}"
    return (f"{name:<34} {_f(scores['precision']):>9} {_f(scores['recall']):>7} "
            f"{_f(scores['f1']):>6}")


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['articles']} of {result['labelled']} labelled articles in the database"
             + (f" ({result['labelled_set']})" if result.get("labelled_set") else ""),
             "", f"{'measure':<34} {'precision':>9} {'recall':>7} {'F1':>6}"]
    ext = result["extraction"]
    lines.append(_prf_row("extraction (token 4-grams)", ext))
    for lang, scores in sorted(ext.get("by_lang", {}).items()):
        lines.append(_prf_row(f"  extraction, {lang}", scores))
    topics = result.get("topics")
    for slug in ("sovereignty", "open-source", "regulation", "export-controls", "funding"):
        lines.append(_prf_row(f"topic {slug}", topics["per_topic"][slug] if topics else None))
    lines.append(f"{'topics macro-F1':<34} {'':>9} {'':>7} {_f(topics['macro_f1'] if topics else None):>6}")
    for lang, scores in sorted((topics or {}).get("by_lang", {}).items()):
        lines.append(_prf_row(f"  topics (micro), {lang}", scores))
    if topics and topics.get("note"):
        lines.append(f"  ({topics['note']})")
    lines += audience_lines(result.get("audiences"))
    for key in ("vendors", "main_vendors", "jurisdictions"):
        name = key.replace("_", " ")
        lines.append(_prf_row(name, result.get(key)))
        if (result.get(key) or {}).get("note"):
            lines.append(f"  ({result[key]['note']})")
        for lang, scores in sorted((result.get(key) or {}).get("by_lang", {}).items()):
            lines.append(_prf_row(f"  {name}, {lang}", scores))
    funding = result.get("funding")
    lines.append(_prf_row("funding events", funding))
    for lang, scores in sorted((funding or {}).get("by_lang", {}).items()):
        lines.append(_prf_row(f"  funding events, {lang}", scores))
    ledger = funding or {}
    for field in ("status", "kind"):
        if ledger.get(f"{field}_accuracy") is not None:
            lines.append(f"  {field} accuracy on matched events: {ledger[f'{field}_accuracy']:.3f} "
                         f"({ledger[f'{field}_judged']} judged)")
    if ledger.get("lead_investor_accuracy") is not None:
        lines.append(f"  lead investor right on matched events: {ledger['lead_investor_accuracy']:.3f} "
                     f"({ledger['lead_investor_judged']} judged)")
    if ledger.get("grouping"):
        lines.append(_prf_row("  grouping into events (pairs)", ledger["grouping"]))
    stories = result.get("stories")
    lines.append(_prf_row("stories (B-cubed)", stories))
    if stories:
        lines.append(f"  stories told across languages: {stories['across_languages_joined']} of "
                     f"{stories['stories_across_languages']} grouped whole")
    search = result.get("search")
    lines += ["", f"{'search':<34} {'nDCG@10':>9} {'recall@20':>10}"]
    for mode in ("keyword", "semantic", "hybrid", "baseline_keyword", "baseline_semantic",
                 "baseline_hybrid"):
        row = (search or {}).get(mode)
        lines.append(f"{mode:<34} {_f(row['ndcg@10'] if row else None):>9} "
                     f"{_f(row['recall@20'] if row else None):>10}")
    if search:
        lines.append(f"({search['queries']} labelled queries)")
    return "\n".join(lines)


def audience_lines(audiences: dict[str, Any] | None) -> list[str]:
    """The "Best for" classifier: per audience, the macro average, per language and per story."""
    lines = [_prf_row(f"best for {a}", (audiences or {}).get("per_audience", {}).get(a))
             for a in ("policy", "investor", "engineering", "executive")]
    lines.append(f"{'best for, macro-F1':<34} {'':>9} {'':>7} "
                 f"{_f(audiences['macro_f1'] if audiences else None):>6}")
    for lang, scores in sorted((audiences or {}).get("by_lang", {}).items()):
        lines.append(_prf_row(f"  best for (micro), {lang}", scores))
    stories = (audiences or {}).get("stories")
    if stories:
        lines.append(f"  stories (mean of their articles): macro-F1 {stories['macro_f1']:.3f} "
                     f"over {stories['stories']} stories of several labelled articles")
    if audiences and audiences.get("note"):
        lines.append(f"  ({audiences['note']})")
    return lines
