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
        for source, scores in sorted((result.get(key) or {}).get("by_source", {}).items()):
            lines.append(_prf_row(f"  {name}, {source}", scores))
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
    company_cv = result.get("funding_company_cv") or {}
    for source in sorted(company_cv.get("learned", {})):
        for run in ("rules", "learned"):
            label = "rules alone" if run == "rules" else "learned company choice"
            lines.append(_prf_row(f"  {source}: {label}", company_cv[run].get(source)))
    if company_cv:
        lines.append("  (funding events of the labelled texts, the company scorer fitted apart by outlet)")
    stories = result.get("stories")
    lines.append(_prf_row("stories (B-cubed)", stories))
    if stories:
        lines.append(f"  stories told across languages: {stories['across_languages_joined']} of "
                     f"{stories['stories_across_languages']} grouped whole")
    lines += search_lines(result.get("search"))
    return "\n".join(lines)


SEARCH_RUNS = {"keyword": "keyword", "semantic": "semantic", "hybrid": "hybrid",
               "hybrid_literal": "hybrid, chips off", "hybrid_previous": "hybrid, previous fusion",
               "baseline_keyword": "baseline keyword", "baseline_semantic": "baseline semantic",
               "baseline_hybrid": "baseline hybrid"}


def search_lines(search: dict[str, Any] | None) -> list[str]:
    """nDCG@10 and recall@20 of every run, then nDCG@10 per query kind and language."""
    lines = ["", f"{'search':<34} {'nDCG@10':>9} {'recall@20':>10}"]
    for key, name in SEARCH_RUNS.items():
        row = (search or {}).get(key)
        lines.append(f"{name:<34} {_f(row['ndcg@10'] if row else None):>9} "
                     f"{_f(row['recall@20'] if row else None):>10}")
    if not search:
        return lines
    lines.append(f"({search['queries']} labelled queries)")
    runs = [k for k in ("hybrid", "hybrid_literal", "hybrid_previous", "keyword", "semantic") if k in search]
    counts = search["hybrid"].get("queries_by_group", {})
    lines += ["", "nDCG@10 by query kind and language"]
    lines.append(f"{'group':<22}{'n':>4} " + " ".join(f"{SEARCH_RUNS[k][:14]:>14}" for k in runs))
    for field, prefix in (("ndcg@10_by_kind", "kind"), ("ndcg@10_by_lang", "lang")):
        for group in search["hybrid"].get(field, {}):
            cells = " ".join(f"{_f(search[k][field].get(group)):>14}" for k in runs)
            lines.append(f"{prefix + ' ' + group:<22}{counts.get(f'{prefix}:{group}', 0):>4} {cells}")
    return lines


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
    held = (audiences or {}).get("training_articles")
    if held:
        lines.append(f"  training articles, same folds: macro-F1 {held['macro_f1']:.3f} ("
                     + ", ".join(f"{a} {v['f1']:.3f}" for a, v in held["per_audience"].items()) + ")")
    if audiences and audiences.get("note"):
        lines.append(f"  ({audiences['note']})")
    return lines
