"""The SQL views: the contract between the database and what Datasette, the digest and exports read."""

from __future__ import annotations

from sqlite_utils.db import Database

_NAMES = ("select json_group_array(name) from (select e.name from article_entities ae "
          "join entities e on e.id = ae.entity_id where ae.article_id = a.id and e.kind = '{kind}' "
          "and ae.role = '{role}' order by ae.mentions desc, e.name)")

# An article's story, or the article alone when it has none: one key for grouping by event.
STORY_KEY_SQL = "coalesce(sa.story_id, 'article-' || a.id)"


def story_key(story_id: str | None, article_id: int) -> str:
    """The Python side of STORY_KEY_SQL."""
    return story_id or f"article-{article_id}"


# Views with fixed column names: the contract between the database and what Datasette serves.
VIEWS = {
    "article_list": f"""select a.id, a.published_at as published, substr(a.published_at, 1, 7) as month,
  a.title, coalesce(s.name, a.source_id) as source, a.lang,
  (select json_group_array(topic) from (select t.topic from article_topics t
     where t.article_id = a.id order by t.score desc)) as topics,
  ({_NAMES.format(kind="vendor", role="main")}) as vendors,
  ({_NAMES.format(kind="vendor", role="mentioned")}) as vendor_mentions,
  ({_NAMES.format(kind="jurisdiction", role="main")}) as jurisdictions,
  (select sa.story_id from story_articles sa where sa.article_id = a.id) as story_id,
  coalesce((select sm.summary from article_summaries sm where sm.article_id = a.id), a.summary)
    as summary,
  a.url
from articles a left join sources s on s.id = a.source_id""",
    # One row per real-world event of the funding ledger (kb.enrich.ledger), never a sum of
    # several: amounts as stated beside their USD and EUR values at the first report's date.
    "funding_rounds": """select l.id, l.company, l.company_known, l.status, l.amount, l.currency,
  l.amount_usd, l.amount_eur, l.valuation, l.kind, l.round, l.first_reported as date,
  l.last_reported, l.reports, l.investors,
  (select count(distinct a.source_id) from funding_events f join articles a on a.id = f.article_id
     where f.event_id = l.id) as outlets,
  (select sa.story_id from funding_events f join story_articles sa on sa.article_id = f.article_id
     where f.event_id = l.id order by f.id limit 1) as story_id,
  (select min(f.article_id) from funding_events f where f.event_id = l.id) as article_id,
  (select a.title from articles a where a.id =
     (select min(f.article_id) from funding_events f where f.event_id = l.id)) as article,
  l.fx_note
from funding_ledger l""",
    "topic_weeks": """select date(a.published_at, 'weekday 0', '-6 days') as week, t.topic,
  count(*) as articles
from article_topics t join articles a on a.id = t.article_id
group by week, t.topic""",
}


def ensure_views(db: Database) -> int:
    """Create the web views, replacing any whose SQL has changed. Safe to run twice; returns how
    many views were (re)created."""
    created = 0
    for name, body in VIEWS.items():
        wanted = f"CREATE VIEW {name} AS {body}"
        row = db.execute("select sql from sqlite_master where type = 'view' and name = ?",
                         [name]).fetchone()
        if row and row[0] == wanted:
            continue
        with db.conn:
            if row:
                db.execute(f"drop view {name}")
            db.execute(wanted)
        created += 1
    return created
