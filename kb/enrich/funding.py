"""The funding stage: funding events as rows, with the sentence each came from."""

from __future__ import annotations

from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.enrich.funding_company import load_company_scorer
from kb.enrich.funding_rules import RULES_VERSION, extract_funding
from kb.enrich.gazetteer import load_gazetteer
from kb.store.stages import delete_for, mark_done, pending

STAGE = "funding"


def extract_funding_events(db: Database, *, quiet: bool = False) -> int:
    """Extract funding rounds from new or changed articles. Returns how many were processed."""
    gazetteer = load_gazetteer()
    scorer = load_company_scorer()
    version = f"{RULES_VERSION}:{gazetteer.version}:{scorer.version if scorer else 'rules'}"
    todo = pending(db, STAGE, version)
    for batch in in_batches(todo, 200, desc=STAGE, quiet=quiet):
        rows = []
        for a in batch:
            for e in extract_funding(a["text"] or "", lang=a["lang"], vendors=gazetteer.vendors_in,
                                     title=a["title"] or "", scorer=scorer):
                rows.append({"article_id": a["id"], "company": e.company, "amount": e.amount,
                             "currency": e.currency, "kind": e.kind, "round": e.round,
                             "valuation": e.valuation, "sentence": e.sentence, "method": "rules",
                             "company_known": int(e.known)})
        with db.conn:
            delete_for(db, "funding_events", [a["id"] for a in batch], " and method = 'rules'")
            db.table("funding_events").insert_all(rows)
            mark_done(db, STAGE, version, batch)
    return len(todo)
