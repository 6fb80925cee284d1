"""The article list's facet counts, rewritten after every enrichment run.

The web's article list (the ``article_list`` view, the navigation's "Articles") is faceted by
topic, vendor and jurisdiction (JSON arrays), source, language and month. Datasette counts a facet
over the whole view on every request: at 100,000 articles the six took about 1.9 s, the three array
facets each past the facet time limit. Counted here from the tables the view reads, with the view's
own expressions, they take about a second once per enrichment, and the unfiltered list reads them
in a millisecond (``datasette/plugins/aiwatch_facets.py``); a filtered list is counted live.

``article_list_facets``: ``facet`` (the view's column), ``value``, ``articles``; and one row with
an empty facet and value whose ``articles`` is the number of articles counted, so the page can say
when articles arrived since.
"""

from __future__ import annotations

from sqlite_utils.db import Database

LIST, TABLE = "article_list", "article_list_facets"  # the view counted, and where its counts go
# Each is the count of articles per value of one article_list column, as Datasette's array facet
# (articles whose array holds the value) and column facet (non-null values) count them.
_ABOUT = """select '{facet}', e.name, count(distinct ae.article_id) from article_entities ae
  join entities e on e.id = ae.entity_id join articles a on a.id = ae.article_id
  where e.kind = '{kind}' and ae.role = 'main' group by e.name"""
COUNTS = {
    "topics": """select 'topics', t.topic, count(distinct t.article_id) from article_topics t
  join articles a on a.id = t.article_id group by t.topic""",
    "vendors": _ABOUT.format(facet="vendors", kind="vendor"),
    "jurisdictions": _ABOUT.format(facet="jurisdictions", kind="jurisdiction"),
    "source": """select 'source', coalesce(s.name, c.source_id), sum(c.n) from
  (select source_id, count(*) as n from articles group by source_id) c
  left join sources s on s.id = c.source_id where coalesce(s.name, c.source_id) is not null
  group by coalesce(s.name, c.source_id)""",
    "lang": "select 'lang', lang, count(*) from articles where lang is not null group by lang",
    "month": """select 'month', substr(published_at, 1, 7) as month, count(*) from articles
  where published_at is not null group by month""",
    "": "select '', '', count(*) from articles",
}


def build_list_facets(db: Database) -> int:
    """Rewrite ``article_list_facets`` from the tables, in one transaction. Returns its row count."""
    with db.atomic():  # readers see the old counts or the new, never an empty table
        db.execute(f"create table if not exists {TABLE} (facet text not null, value text not null, "
                   "articles integer not null, primary key (facet, value))")
        db.execute(f"delete from {TABLE}")
        for sql in COUNTS.values():
            db.execute(f"insert into {TABLE} (facet, value, articles) {sql}")
    return int(db.execute(f"select count(*) from {TABLE}").fetchone()[0])
