"""The bundled fictional sample corpus: outlets' sites and feeds built from the corpus shipped in
this package (kb/evaluation/corpus), served locally."""

from __future__ import annotations

import email.utils
import errno
import functools
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kb.core.config import Config, Source
from kb.core.resources import bundled, cache_dir

logger = logging.getLogger("aiwatch.sample")
SAMPLE_DIR = bundled("kb.evaluation", "corpus")
TEMPLATES = bundled("kb.evaluation", "templates")
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"],
}
BOILERPLATE = {
    "en": {"cookie": "We use cookies to improve your experience and measure our audience.",
           "accept": "Accept all", "settings": "Cookie settings",
           "nav": ["Home", "AI", "Policy", "Markets", "Chips", "Opinion"], "search": "Search",
           "advert": "Advertisement", "section": "Artificial intelligence", "by": "By",
           "read_also": "Read also:", "topics": "Topics",
           "newsletter": "Get the week in AI policy in your inbox every Monday.",
           "newsletter_title": "Our newsletter", "subscribe": "Subscribe",
           "bio": "covers technology and policy for us.", "most_read": "Most read",
           "correction": "Spotted an error? Write to our corrections desk.",
           "comments": "Comments", "comment_prompt": "Sign in to join the conversation.",
           "related": "Related coverage", "rights": "All rights reserved.", "about": "About us",
           "privacy": "Privacy", "contact": "Contact",
           "fiction": "Fictional sample data for the aiwatch demo."},
    "fr": {"cookie": "Nous utilisons des cookies pour améliorer votre expérience.",
           "accept": "Tout accepter", "settings": "Paramètres",
           "nav": ["Accueil", "IA", "Politique", "Marchés", "Puces"], "search": "Rechercher",
           "advert": "Publicité", "section": "Intelligence artificielle", "by": "Par",
           "read_also": "Lire aussi :", "topics": "Sujets",
           "newsletter": "Recevez chaque lundi l'essentiel de l'IA.",
           "newsletter_title": "Notre lettre", "subscribe": "S'abonner",
           "bio": "couvre la technologie pour notre rédaction.", "most_read": "Les plus lus",
           "correction": "Une erreur ? Écrivez à la rédaction.", "comments": "Commentaires",
           "comment_prompt": "Connectez-vous pour commenter.", "related": "À lire aussi",
           "rights": "Tous droits réservés.", "about": "Qui sommes-nous",
           "privacy": "Confidentialité", "contact": "Contact",
           "fiction": "Données fictives pour la démonstration d'aiwatch."},
    "de": {"cookie": "Wir verwenden Cookies, um unser Angebot zu verbessern.",
           "accept": "Alle akzeptieren", "settings": "Einstellungen",
           "nav": ["Start", "KI", "Politik", "Märkte", "Chips"], "search": "Suche",
           "advert": "Anzeige", "section": "Künstliche Intelligenz", "by": "Von",
           "read_also": "Lesen Sie auch:", "topics": "Themen",
           "newsletter": "Jeden Montag das Wichtigste zur KI im Postfach.",
           "newsletter_title": "Newsletter", "subscribe": "Abonnieren",
           "bio": "schreibt für uns über Technologie.", "most_read": "Meistgelesen",
           "correction": "Fehler gefunden? Schreiben Sie uns.", "comments": "Kommentare",
           "comment_prompt": "Melden Sie sich an, um zu kommentieren.",
           "related": "Mehr zum Thema", "rights": "Alle Rechte vorbehalten.",
           "about": "Über uns", "privacy": "Datenschutz", "contact": "Kontakt",
           "fiction": "Fiktive Beispieldaten für die aiwatch-Demo."},
}


def load_outlets(sample_dir: Path = SAMPLE_DIR) -> list[dict[str, Any]]:
    return yaml.safe_load((sample_dir / "outlets.yaml").read_text(encoding="utf-8"))


def load_articles(sample_dir: Path = SAMPLE_DIR) -> list[dict[str, Any]]:
    """Every sample article with its labels, in file order."""
    articles: list[dict[str, Any]] = []
    for path in sorted((sample_dir / "articles").glob("*.yaml")):
        articles.extend(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
    return articles


def load_queries(sample_dir: Path = SAMPLE_DIR) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for path in sorted((sample_dir / "queries").glob("*.yaml")):
        queries.extend(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
    return queries


def labels_document(sample_dir: Path = SAMPLE_DIR) -> dict[str, Any]:
    """Every article's gold labels and body, keyed by article id, plus the search judgments."""
    outlets = {o["slug"]: o for o in load_outlets(sample_dir)}
    return {
        "about": "Gold labels of the fictional aiwatch sample corpus; built from sample/articles/*.yaml "
                 "and sample/queries/*.yaml by `kb sample labels`.",
        "articles": {
            a["id"]: {"path": "/" + article_path(a), "outlet": a["outlet"],
                      "lang": outlets[a["outlet"]]["lang"], "published": a["published"],
                      "title": a["title"], "story": a["story"], **a["labels"],
                      "body": "\n\n".join(paragraphs(a["body"]))}
            for a in load_articles(sample_dir)
        },
        "queries": load_queries(sample_dir),
    }


def write_labels(path: Path, sample_dir: Path = SAMPLE_DIR) -> Path:
    """Write the gold labels in one file (the corpus ships one as labels.json)."""
    path.write_text(json.dumps(labels_document(sample_dir), ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    return path


def paragraphs(body: str) -> list[str]:
    return [" ".join(p.split()) for p in body.strip().split("\n\n") if p.strip()]


def article_path(a: dict[str, Any]) -> str:
    date = a["published"][:7].replace("-", "/")
    return f"{a['outlet']}/{date}/{a['id']}.html"


def sample_sources(base_url: str, sample_dir: Path = SAMPLE_DIR) -> list[Source]:
    return [
        Source(id=o["slug"], name=o["name"], feed_url=f"{base_url}/{o['slug']}/feed.xml",
               homepage=f"{base_url}/{o['slug']}/", lang=o["lang"], tags=["sample"])
        for o in load_outlets(sample_dir)
    ]


def sample_config(base_url: str, sample_dir: Path = SAMPLE_DIR) -> Config:
    """The demo configuration pointed at a sample site served on ``base_url``."""
    from kb.core.config import load_config

    config = load_config("demo")
    config.sources = sample_sources(base_url, sample_dir)
    return config


def _decorate(a: dict[str, Any], outlet: dict[str, Any], base: str, index: int) -> dict[str, Any]:
    published = datetime.fromisoformat(a["published"])
    lang = outlet["lang"]
    path = article_path(a)
    url = f"{base}/{path}"
    feed_link = url + ("?utm_source=rss&utm_medium=feed" if index % 3 == 0 else "")
    paras = paragraphs(a["body"])
    day = f"{published.day}." if lang == "de" else str(published.day)
    date_text = f"{day} {MONTHS[lang][published.month - 1]} {published.year}"
    return {
        **a, "paragraphs": paras, "canonical": url, "feed_link": feed_link,
        "relative_link": path.split("/", 1)[1], "rfc822": email.utils.format_datetime(published),
        "date_text": date_text, "html_body": "".join(f"<p>{p}</p>" for p in paras),
        "jsonld": json.dumps({
            "@context": "https://schema.org", "@type": "NewsArticle", "headline": a["title"],
            "datePublished": a["published"], "author": {"@type": "Person", "name": a["author"]},
            "publisher": {"@type": "Organization", "name": outlet["name"]}, "inLanguage": lang,
        }, ensure_ascii=False).replace("</", "<\\/"),
    }


def build_site(out_dir: Path, base_url: str, sample_dir: Path = SAMPLE_DIR) -> int:
    """Write every outlet's pages, index and feed under ``out_dir``. Returns the page count."""
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(["html", "xml"]))
    articles = load_articles(sample_dir)
    count = 0
    for o_index, outlet in enumerate(load_outlets(sample_dir)):
        mine = sorted((a for a in articles if a["outlet"] == outlet["slug"]),
                      key=lambda a: a["published"], reverse=True)
        decorated = [_decorate(a, outlet, base_url, i) for i, a in enumerate(mine)]
        for i, a in enumerate(decorated):
            a["related"] = [{"url": r["canonical"], "title": r["title"]}
                            for r in decorated[i + 1:i + 4] + decorated[:max(0, i + 4 - len(decorated))]
                            if r is not a][:3]
            html = env.get_template("page.html").render(
                a=a, outlet=outlet, t=BOILERPLATE[outlet["lang"]], layout=o_index % 3)
            target = out_dir / article_path(a)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            count += 1
        feed = env.get_template(f"{outlet['feed_format']}.xml").render(
            outlet=outlet, articles=decorated, base=base_url,
            updated=decorated[0]["published"] if decorated else "2026-01-01T00:00:00+00:00")
        (out_dir / outlet["slug"]).mkdir(parents=True, exist_ok=True)
        (out_dir / outlet["slug"] / "feed.xml").write_text(feed, encoding="utf-8")
        links = "".join(f'<li><a href="/{article_path(a)}">{a["title"]}</a></li>' for a in mine)
        (out_dir / outlet["slug"] / "index.html").write_text(
            f"<!DOCTYPE html><html lang=\"{outlet['lang']}\"><title>{outlet['name']}</title>"
            f"<h1>{outlet['name']}</h1><ul>{links}</ul></html>", encoding="utf-8")
    return count



class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def serve_site(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 in a thread; yields the base URL. A port that is taken
    gives way to a free one, and the log says which."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        logger.warning("port %d is taken: the sample site is served on port %d instead", port,
                       server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_sample(port: int = 0, sample_dir: Path = SAMPLE_DIR) -> Iterator[str]:
    """Build the sample site for the port it is served on, in a folder of its own under the cache
    folder (removed afterwards, so two servers never rewrite each other's feeds), and serve it.

    ``sample_dir`` may name another corpus laid out like the bundled one (outlets.yaml,
    articles/*.yaml, queries/*.yaml), such as the validation set converted by
    ``kb.evaluation.validation``."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="sample-site-", dir=cache_dir()))
    try:
        with serve_site(work_dir, port) as base:
            build_site(work_dir, base, sample_dir)
            yield base
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def serve_forever(port: int = 8765) -> None:
    """Serve the sample site until interrupted (used by `make demo`)."""
    import click

    with serve_sample(port) as base:
        click.echo(f"sample site on {base}/ ({len(load_outlets())} feeds); Ctrl-C to stop",
                   err=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
