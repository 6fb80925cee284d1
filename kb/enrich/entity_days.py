"""Articles per day of every vendor, jurisdiction and topic, and each one's latest articles,
rewritten after every enrichment run.

The web's vendor, topic and jurisdiction pages and its trends page count articles per week and
per month, and compare a vendor's last 4 weeks with the 12 before. Counted from the tagging tables,
a topic with 30,000 articles costs tens of milliseconds per chart at 100,000 articles; counted from
this table (a few hundred rows per entity) it costs under one.

``entity_days``: ``kind`` (``vendor``, ``jurisdiction``, ``topic``, ``regulation``, or ``all``
with the empty name for every article), ``name``, ``day`` (UTC), ``articles``. Vendors and
jurisdictions count the articles about them (role ``main``), not those naming them in passing;
topics count the articles tagged with them; ``regulation`` counts a jurisdiction's articles tagged
``regulation`` or ``export-controls`` (its regulation timeline).

The same pages read an entity's latest articles three times (its stories, what it occurs with, its
notable stories per month). Found in the tagging tables, a mid-sized entity's cost 15 to 20 ms each
at 100,000 articles (all its articles read and sorted); ``entity_latest`` holds each one's latest
``LATEST`` articles in order: ``kind``, ``name``, ``published_at``, ``article_id``, newest first
(then the highest id), under the same kinds less ``all``, with the article's ``title``,
``source_id``, ``story_id`` and that story's ``outlets``, so that the pages read them without
visiting the articles' rows (the full text makes each one a page of its own) or their stories.
"""

from __future__ import annotations

from sqlite_utils.db import Database

TABLE, LATEST_TABLE = "entity_days", "entity_latest"
LATEST = 1000  # articles kept per entity, the most the pages read
# The articles of each kind and name: (kind, name, article id, published_at).
MEMBERS = """select e.kind as kind, e.name as name, a.id as article_id, a.published_at
  from article_entities ae join entities e on e.id = ae.entity_id join articles a on a.id = ae.article_id
  where ae.role = 'main' and a.published_at is not null
union
select 'topic', t.topic, a.id, a.published_at from article_topics t join articles a on a.id = t.article_id
  where a.published_at is not null
union
select 'regulation', e.name, a.id, a.published_at
  from article_entities ae join entities e on e.id = ae.entity_id join articles a on a.id = ae.article_id
  where e.kind = 'jurisdiction' and ae.role = 'main' and a.published_at is not null
    and a.id in (select article_id from article_topics where topic in ('regulation', 'export-controls'))"""
COUNTS = f"""select kind, name, date(published_at) as day, count(*) as articles from ({MEMBERS})
  group by kind, name, day
union all
select 'all', '', date(published_at) as day, count(*) from articles where published_at is not null
  group by day"""
# An article's story and that story's outlet count, as columns of a query over articles ``a``.
STORY_COLUMNS = """(select sa.story_id from story_articles sa where sa.article_id = a.id) as story_id,
  (select st.outlet_count from story_articles sa join stories st on st.id = sa.story_id
    where sa.article_id = a.id) as outlets"""
LATEST_ROWS = f"""select kind, name, a.published_at, article_id, a.title, a.source_id, {STORY_COLUMNS} from (
  select kind, name, article_id,
    row_number() over (partition by kind, name order by published_at desc, article_id desc) as n
  from ({MEMBERS})) m join articles a on a.id = m.article_id
where n <= {LATEST}"""


def build_entity_days(db: Database) -> int:
    """Rewrite ``entity_days`` and ``entity_latest`` from the tagging tables, in one transaction.
    Returns entity_days's row count."""
    with db.atomic():  # readers see the old counts or the new, never an empty table
        db.execute(f"create table if not exists {TABLE} (kind text not null, name text not null, "
                   "day text not null, articles integer not null, primary key (kind, name, day))")
        db.execute(f"create index if not exists {TABLE}_kind_day on {TABLE} (kind, day)")  # the trends
        db.execute(f"delete from {TABLE}")
        db.execute(f"insert into {TABLE} (kind, name, day, articles) {COUNTS}")
        db.execute(f"drop table if exists {LATEST_TABLE}")  # derived: its shape follows this code
        db.execute(f"create table {LATEST_TABLE} (kind text not null, name text not null, "
                   "published_at text not null, article_id integer not null, title text, source_id text, "
                   "story_id text, outlets integer, primary key (kind, name, published_at, article_id)) "
                   "without rowid")
        db.execute(f"insert into {LATEST_TABLE} (kind, name, published_at, article_id, title, source_id, "
                   f"story_id, outlets) {LATEST_ROWS}")
    return int(db.execute(f"select count(*) from {TABLE}").fetchone()[0])
