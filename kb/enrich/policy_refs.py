"""The policy-references stage: identifiers of the primary sources an article names.

EU acts ("Regulation (EU) 2024/1689"), CELEX numbers, US Federal Register citations ("90 FR 12345")
and document numbers, CFR/EAR parts, ECCNs ("3A090", "4E091") and US bill numbers ("S. 1234",
"H.R. 5678"), so a reader can go from the news to the rule it reports.
"""

from __future__ import annotations

import re

from sqlite_utils.db import Database

from kb.core.progress import in_batches
from kb.store.stages import delete_for, mark_done, pending

STAGE = "policy_refs"
VERSION = "refs-1"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("eu-act", re.compile(r"\b(?:Regulation|Directive|Decision|Verordnung|Richtlinie|Règlement|Directive)"
                          r" \((?:EU|EC|UE)\) (?:No\.? |Nr\. |n° )?\d{2,4}/\d{1,4}\b")),
    ("celex", re.compile(r"\bCELEX[: ]*\d{5}[A-Z]\d{4}\b|\b3\d{4}[RLD]\d{4}\b")),
    ("federal-register", re.compile(r"\b\d{2,3} FR \d{3,6}\b")),
    ("fr-document", re.compile(r"\bFR Doc\.? \d{4}-\d{4,6}\b")),
    ("cfr", re.compile(r"\b\d{1,2} CFR (?:[Pp]arts? )?\d{1,4}(?:\.\d+)?\b")),
    ("ear-part", re.compile(r"\b(?:EAR|Export Administration Regulations)[, ]+(?:[Pp]art|§) ?\d{3}\b|"
                            r"\b[Pp]art \d{3} of the (?:EAR|Export Administration Regulations)\b")),
    ("eccn", re.compile(r"\b[0-9][A-E][0-9]{3}(?:\.[a-z0-9]+)?\b")),
    ("us-bill", re.compile(r"\b(?:H\.R\.|S\.|H\.Res\.|S\.Res\.) ?\d{1,5}\b")),
    ("state-bill", re.compile(r"\b(?:SB|AB|HB) ?\d{1,5}\b")),
]


ECCN_CONTEXT = re.compile(r"ECCN|export|control|Kontroll|contrôle", re.IGNORECASE)


def find_refs(text: str) -> list[tuple[str, str, str]]:
    """(kind, identifier, context) for every distinct reference in ``text``."""
    found: dict[tuple[str, str], str] = {}
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(text or ""):
            ref = " ".join(m.group(0).split())
            window = text[max(0, m.start() - 200):m.end() + 200]
            if kind == "eccn" and not ECCN_CONTEXT.search(window):
                continue  # "4A100" may be a part number: an ECCN comes with control vocabulary
            context = text[max(0, m.start() - 80):m.end() + 80].replace("\n", " ").strip()
            found.setdefault((kind, ref), context)
    return [(kind, ref, ctx) for (kind, ref), ctx in found.items()]


def extract_policy_refs(db: Database, *, quiet: bool = False) -> int:
    todo = pending(db, STAGE, VERSION)
    for batch in in_batches(todo, 500, desc=STAGE, quiet=quiet):
        rows = [{"article_id": a["id"], "kind": k, "ref": r, "context": c}
                for a in batch for k, r, c in find_refs(a["text"] or "")]
        with db.conn:
            delete_for(db, "policy_refs", [a["id"] for a in batch])
            db.table("policy_refs").insert_all(rows)
            mark_done(db, STAGE, VERSION, batch)
    return len(todo)
