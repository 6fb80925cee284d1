"""Metadata of real-world page patterns: titles, authors, dates, body, bad input and language.

Every page is a small original fixture under ``fixtures/metadata/`` (invented outlets, people and
text). Article bodies are written there as markers that ``load`` expands into plausible prose:
``<!-- prose:en:5 -->`` (five ``<p>`` paragraphs, optionally ``:start``), ``"prose-text:de:6"``
(a JSON string of plain paragraphs) and ``"prose-html:fr:6"`` (a JSON string of ``<p>`` HTML).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import FIXTURES

from kb.crawl.extraction import extract_article
from kb.crawl.metadata import MAX_AUTHORS, MAX_TITLE_CHARS, reconcile

PAGES = FIXTURES / "metadata"
FETCHED = "2026-01-10T12:00:00+00:00"

# --- prose ----------------------------------------------------------------------------------------

# (subjects, verbs, what they said, where): sentence i takes item i of each list, lengths co-prime.
BANKS = {
    "en": (
        ["The harbour authority", "A resident of the old quarter", "The regional council",
         "A spokesperson for the operator", "An independent engineer", "The shop owners' association",
         "The transport committee", "A local fisherman", "The mayor's office", "A retired teacher",
         "A union representative"],
        ["said", "argued", "warned", "noted", "confirmed", "suggested", "told reporters"],
        ["that the work would take longer than first planned",
         "that costs had risen by almost a third since the spring",
         "that the ferry timetable would change again in the autumn",
         "that the new sea wall was holding up well",
         "that nobody had asked the neighbours before the plans were drawn up",
         "that the old warehouses could become a covered market",
         "that the parking rules near the station were confusing",
         "that grants from the county had arrived late",
         "that the survey results would be published in full",
         "that night buses were badly needed at weekends"],
        ["during a meeting on Tuesday evening.", "in a statement published this week.",
         "at a public hearing in the town hall.", "after a long walk along the waterfront.",
         "in a letter to the local paper.", "when asked about the budget.",
         "before the vote later this month.", "on the sidelines of the spring fair.",
         "in an interview on Friday.", "while the inspection was still under way.",
         "without giving further details.", "as rain fell over the estuary.",
         "to a small crowd outside the library."],
    ),
    "de": (
        ["Die Stadtverwaltung", "Ein Anwohner der Altstadt", "Der Kreistag", "Eine Sprecherin des Betreibers",
         "Ein unabhängiger Gutachter", "Der Händlerverband am Marktplatz", "Der Verkehrsausschuss",
         "Ein Landwirt aus der Umgebung", "Das Büro der Bürgermeisterin", "Eine pensionierte Lehrerin",
         "Ein Vertreter der Gewerkschaft"],
        ["sagte", "betonte", "warnte", "erklärte", "bestätigte", "vermutete", "teilte mit"],
        ["dass die Bauarbeiten deutlich länger dauern würden als geplant",
         "dass die Kosten seit dem Frühjahr um fast ein Drittel gestiegen seien",
         "dass sich der Fahrplan der Fähre im Herbst erneut ändern werde",
         "dass die neue Ufermauer dem Hochwasser gut standgehalten habe",
         "dass niemand die Nachbarn vor der Planung um ihre Meinung gebeten habe",
         "dass aus den alten Lagerhallen eine Markthalle werden könne",
         "dass die Parkregeln rund um den Bahnhof kaum zu verstehen seien",
         "dass die Fördermittel des Landes zu spät angekommen seien",
         "dass die Ergebnisse der Umfrage vollständig veröffentlicht würden",
         "dass am Wochenende dringend mehr Nachtbusse gebraucht würden"],
        ["bei einer Sitzung am Dienstagabend.", "in einer Mitteilung in dieser Woche.",
         "bei einer Bürgerversammlung im Rathaus.", "nach einem Rundgang am Flussufer.",
         "in einem Brief an die Lokalzeitung.", "auf Nachfrage zum Haushalt.",
         "kurz vor der Abstimmung Ende des Monats.", "am Rande des Frühlingsfestes.",
         "in einem Gespräch am Freitag.", "während die Prüfung noch lief.",
         "ohne weitere Einzelheiten zu nennen.", "während es über dem Tal regnete.",
         "vor einer kleinen Menge vor der Bibliothek."],
    ),
    "fr": (
        ["La mairie", "Une habitante du vieux quartier", "Le conseil régional",
         "Une porte-parole de l'exploitant", "Un ingénieur indépendant",
         "L'association des commerçants du quai", "La commission des transports", "Un pêcheur du port",
         "Le cabinet de la maire", "Une enseignante retraitée", "Le représentant syndical"],
        ["a déclaré", "a souligné", "a averti", "a expliqué", "a confirmé", "a estimé", "a indiqué"],
        ["que les travaux dureraient plus longtemps que prévu",
         "que les coûts avaient augmenté de près d'un tiers depuis le printemps",
         "que les horaires du bac changeraient encore à l'automne",
         "que la nouvelle digue avait bien résisté aux tempêtes",
         "que personne n'avait consulté les riverains avant le projet",
         "que les anciens entrepôts pourraient devenir une halle couverte",
         "que les règles de stationnement près de la gare étaient confuses",
         "que les subventions du département étaient arrivées en retard",
         "que les résultats de l'enquête seraient publiés en entier",
         "que des bus de nuit manquaient cruellement le week-end"],
        ["lors d'une réunion mardi soir.", "dans un communiqué publié cette semaine.",
         "lors d'une audience publique à l'hôtel de ville.", "après une longue promenade sur les quais.",
         "dans une lettre au journal local.", "interrogé sur le budget.",
         "avant le vote prévu à la fin du mois.", "en marge de la foire de printemps.",
         "dans un entretien vendredi.", "alors que l'inspection était encore en cours.",
         "sans donner plus de détails.", "sous la pluie qui tombait sur l'estuaire.",
         "devant une petite foule près de la médiathèque."],
    ),
}


def paragraphs(lang: str, count: int, start: int = 0) -> list[str]:
    """``count`` paragraphs of three sentences (about 60 words each), from paragraph ``start`` on."""
    subjects, verbs, claims, places = BANKS[lang]

    def sentence(i: int) -> str:
        return (f"{subjects[i % len(subjects)]} {verbs[i % len(verbs)]} {claims[i % len(claims)]} "
                f"{places[i % len(places)]}")

    return [" ".join(sentence(3 * (start + p) + k) for k in range(3)) for p in range(count)]


def _expand(match: re.Match[str]) -> str:
    kind, lang, count, start = match["kind"], match["lang"], int(match["count"]), int(match["start"] or 0)
    paras = paragraphs(lang, count, start)
    if kind == "prose":
        return "\n".join(f"<p>{p}</p>" for p in paras)
    if kind == "prose-text":
        return json.dumps("\n\n".join(paras), ensure_ascii=False)
    return json.dumps("".join(f"<p>{p}</p>" for p in paras), ensure_ascii=False)


MARKER = re.compile(r'(?:<!-- |")(?P<kind>prose|prose-text|prose-html):(?P<lang>en|de|fr):(?P<count>\d+)'
                    r'(?::(?P<start>\d+))?(?: -->|")')


def load(name: str) -> str:
    return MARKER.sub(_expand, (PAGES / name).read_text(encoding="utf-8"))


def run(name: str, url: str, feed: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the crawler does with a page: extract, then reconcile with the feed's fields."""
    ex = extract_article(load(name), url)
    return ex, reconcile(ex["meta"], feed or {}, url, FETCHED, ex["text"])


KC = "https://www.kestrelcourier.com"
NR = "https://www.nordhafen-rundschau.de"
PV = "https://www.petitvigilant.fr"


# --- titles -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "url", "title"), [
    # og:site_name given, site name as a " | " suffix
    ("title_suffix_pipe.html", f"{KC}/local/harbour-council-tidal-barrier",
     "Harbour council approves a new tidal barrier"),
    # no site name stated anywhere: fetched through a relay, only the canonical link names the host
    ("title_suffix_hyphen_host.html", "https://l.feedrelay.net/r/8f3a2c91",
     "Bahnstreik in der Region nach sechs Tagen beendet"),
    # broadcaster style: "Headline – ABBR – DD.MM.YYYY", the abbreviation is the host
    ("title_suffix_dated.html", "https://www.rfw.de/de/berlin-e-scooter/a-65432101",
     "Berlin verschärft die Regeln für Leih-E-Scooter"),
    # site name as a prefix
    ("title_prefix_pipe.html", f"{PV}/transports/tarifs-bac-avril",
     "Les tarifs du bac augmenteront en avril"),
    # "Site Name: ..." is not a separator; only the " | " suffix goes
    ("title_colon.html", f"{KC}/features/quay-ten-years",
     "Kestrel Courier: Ten years after the flood, the quay is thriving again"),
    # separators inside the headline stay
    ("title_inner_dash.html", f"{KC}/explainers/rent-caps",
     "Rent caps - what tenants in the old town need to know"),
    ("title_inner_pipe.html", f"{NR}/panorama/winzer-mosel",
     "Hitzesommer | Wie Winzer an der Mosel sich anpassen"),
])
def test_site_name_is_cut_from_the_ends_of_the_title_only(name: str, url: str, title: str) -> None:
    _, m = run(name, url)
    assert m["title"] == title


def test_site_name_with_a_leading_article_is_inferred_from_the_host() -> None:
    _, m = run("title_the_site_host.html", f"{KC}/news/lifeboat-rescue-kayakers")
    assert m["title"] == "Lifeboat crew rescues two kayakers off the point"


def test_headline_opening_with_a_prefix_of_the_site_name_is_not_cut() -> None:
    _, m = run("title_city_prefix.html", "https://www.berliner-tagblatt.de/kultur/essay-berlin-baustelle")
    assert m["title"] == "Berlin – eine Stadt, die nie fertig wird"


def test_feed_title_that_agrees_with_the_h1_confirms_it() -> None:
    h1 = "Vineyards turn to drones as the frost returns"
    _, m = run("title_feed_agrees_h1.html", f"{KC}/country/vineyards-drones-frost", {"title": h1})
    assert m["title"] == h1
    assert m["sources"]["title"] == "h1+feed"


def test_visible_h1_inside_the_article_wins_over_a_different_og_title() -> None:
    _, m = run("title_h1_differs_og.html", f"{KC}/local/library-sunday-opening")
    assert m["title"] == "City library will open on Sundays from May"
    assert m["sources"]["title"] == "h1"


def test_an_h1_holding_only_the_site_logo_is_not_the_title() -> None:
    _, m = run("title_logo_h1.html", f"{KC}/local/sailing-school-reopens")
    assert m["title"] == "Sailing school reopens after storm damage"


def test_a_5000_character_title_is_passed_over() -> None:
    _, m = run("title_huge.html", f"{KC}/local/harbour-tunnel-vote-delayed")
    assert m["title"] == "Council delays the vote on the harbour tunnel"
    assert any("passed over" in note for note in m["notes"])
    _, m = run("title_huge_everywhere.html", f"{KC}/local/harbour-tunnel-seo")
    assert m["title"] is None or len(m["title"]) <= MAX_TITLE_CHARS


def test_truncated_og_title_gives_way_to_the_full_json_ld_headline() -> None:
    _, m = run("title_truncated_og.html", f"{KC}/politics/fisheries-plan-agreed")
    full = "Ministers agree on a shared plan for the northern fisheries after three years of talks"
    assert m["title"] == full


# --- authors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "url", "authors", "org"), [
    ("author_jsonld_string.html", f"{KC}/local/allotments", ["Maren Lindqvist"], None),
    ("author_jsonld_object.html", f"{PV}/economie/halle-aux-poissons", ["Tomás Rivera Ocampo"], None),
    ("author_jsonld_list.html", f"{KC}/environment/seagrass-map",
     ["Ines Baptiste", "Kwame Asante", "Rhiannon Pryce"], None),
    ("author_jsonld_org.html", f"{KC}/local/marathon-road-closures", [], "Kestrel Courier Newsroom"),
])
def test_json_ld_author_as_string_object_list_or_organisation(name: str, url: str, authors: list[str],
                                                              org: str | None) -> None:
    _, m = run(name, url)
    assert m["authors"] == authors
    assert m["byline_org"] == org


@pytest.mark.parametrize(("name", "url", "authors"), [
    ("byline_by_and.html", f"{KC}/transport/night-bus-pilot", ["Priya Natarajan", "Owen Castellano"]),
    ("byline_von.html", f"{NR}/region/neue-faehre", ["Friederike Almsdorf"]),
    ("byline_par.html", f"{PV}/ville/marche-de-noel", ["Élodie Marchand"]),
])
def test_by_von_par_and_conjunctions_leave_the_names(name: str, url: str, authors: list[str]) -> None:
    _, m = run(name, url)
    assert m["authors"] == authors
    assert m["sources"]["authors"] == "meta"


def test_person_with_a_wire_agency_gives_author_and_byline_org() -> None:
    _, m = run("byline_person_org.html", f"{KC}/business/port-strike-grain")
    assert m["authors"] == ["Samira Haddad"]
    assert m["byline_org"] == "Reuters"


def test_french_avec_agency_names_the_agency_alone() -> None:
    _, m = run("byline_avec_agency.html", f"{PV}/economie/greve-des-dockers")
    assert m["authors"] == ["Élodie Marchand"]
    assert m["byline_org"] == "AFP"


@pytest.mark.parametrize(("name", "url", "org"), [
    ("author_staff.html", f"{KC}/whats-on/weekend-events", "Staff"),
    ("author_redaktion.html", f"{NR}/region/pegelstand", "Redaktion"),
])
def test_desk_bylines_name_no_person(name: str, url: str, org: str) -> None:
    _, m = run(name, url)
    assert m["authors"] == []
    assert m["byline_org"] == org


def test_job_title_after_the_name_is_not_an_author() -> None:
    _, m = run("byline_role.html", f"{KC}/local/lido-shut")
    assert m["authors"] == ["Gwen Ashdown"]


def test_meta_author_with_an_email_address_keeps_the_name_only() -> None:
    _, m = run("author_email.html", f"{NR}/region/kuestenradweg")
    assert m["authors"] == ["Jonas Weber"]
    assert m["sources"]["authors"] == "meta"


def test_feed_author_in_rss_email_name_form_gives_the_name() -> None:
    _, m = run("date_none.html", f"{KC}/local/recycling-bins",
               {"author": "jonas.weber@kestrelcourier.com (Jonas Weber)"})
    assert m["authors"] == ["Jonas Weber"]


def test_names_in_capitals_become_normal_case() -> None:
    _, m = run("author_caps.html", f"{KC}/culture/carved-chest-returns")
    assert m["authors"] == ["Helena Voss", "Marie de la Tour"]


def test_hyphenated_name_in_capitals_keeps_both_capitals() -> None:
    _, m = run("byline_caps_hyphen.html", f"{PV}/ville/mouettes-marche")
    assert m["authors"] == ["Jean-Luc Fontanel"]


def test_two_hundred_authors_are_capped() -> None:
    _, m = run("author_200.html", f"{KC}/nature/winter-wader-count")
    assert len(m["authors"]) == MAX_AUTHORS
    assert m["authors"][:2] == ["Ada Ambrose", "Bram Ambrose"]
    assert any("authors named" in note for note in m["notes"])


def test_author_meta_holding_a_url_is_ignored() -> None:
    ex, m = run("author_url_meta.html", f"{KC}/local/cliff-path-reopens")
    assert m["authors"] == ["Kofi Mensah-Bonsu"]
    assert m["sources"]["authors"] == "meta"
    assert not any("facebook" in str(value) for _, value in ex["meta"]["authors"])


# --- dates --------------------------------------------------------------------------------------

def test_json_ld_date_keeps_the_publishers_offset_and_day() -> None:
    _, m = run("date_offset.html", f"{NR}/verkehr/nachtbus-linie")
    assert m["published"] == "2024-03-06T00:30:00+01:00"  # 2024-03-05 in UTC
    assert m["sources"]["published"] == "json-ld datePublished"


def test_utc_instant_with_a_naive_local_time_is_shown_on_the_publishers_day() -> None:
    _, m = run("date_utc_and_local.html", "https://www.coralcoastherald.com.au/news/reef-survey-north")
    assert m["published"] == "2024-07-15T07:15:00+10:00"


def test_url_date_months_away_from_the_page_date_wins() -> None:
    url = f"{KC}/2023/11/14/councillors-reject-harbour-tunnel/"
    _, m = run("date_url_disagrees.html", url)
    assert m["published"].startswith("2023-11-14")
    assert m["sources"]["published"] == "url"
    assert any("disagrees with the URL" in note for note in m["notes"])


def test_future_date_is_flagged_and_the_next_source_used() -> None:
    _, m = run("date_future.html", f"{PV}/loisirs/festival-cerfs-volants")
    assert m["published"] == "2025-12-30T08:00:00+01:00"
    assert m["date_flag"] == "future"


def test_date_before_1990_is_skipped() -> None:
    _, m = run("date_pre1990.html", f"{KC}/weather/storm-warning")
    assert m["published"] == "2025-11-02T14:20:00+01:00"
    assert not m["published"].startswith("1970")
    assert m["date_flag"] == "implausible"


def test_page_date_a_year_before_the_feeds_gives_way_to_the_feed() -> None:
    _, m = run("date_feed_year_apart.html", f"{KC}/whats-on/coastal-walking-festival",
               {"published": "2025-06-01T10:00:00+00:00"})
    assert m["published"] == "2025-06-01T10:00:00+00:00"
    assert m["sources"]["published"] == "feed"


def test_no_date_anywhere_falls_back_to_the_fetch_time() -> None:
    _, m = run("date_none.html", f"{KC}/local/recycling-bins")
    assert m["published"] == FETCHED
    assert m["date_flag"] == "missing"
    assert m["sources"]["published"] == "fetched"


def test_date_modified_goes_to_modified() -> None:
    _, m = run("date_offset.html", f"{NR}/verkehr/nachtbus-linie")
    assert m["modified"] == "2024-03-07T09:15:00+01:00"
    assert m["published"] != m["modified"]


# --- body ---------------------------------------------------------------------------------------

def test_article_only_in_next_js_data_is_recovered() -> None:
    ex, _ = run("body_nextjs.html", "https://www.tidewatertoday.com/news/ferry-operator-orders-two-electric-boats")
    paras = paragraphs("en", 6, 80)
    assert ex["method"] == "script-json"
    assert paras[0] in ex["text"] and paras[-1] in ex["text"]
    assert ex["text"].count("\n\n") >= 5  # one paragraph per <p>
    assert "Loading" not in ex["text"]


def test_json_ld_article_body_replaces_a_paywalled_teaser() -> None:
    ex, _ = run("body_paywall_jsonld.html", f"{NR}/region/hafenordnung-segler")
    assert ex["method"] == "json-ld"
    assert paragraphs("de", 7, 30)[-1] in ex["text"]
    assert "abonnieren" not in ex["text"]


def test_normal_page_keeps_the_precise_extraction() -> None:
    ex, _ = run("body_normal.html", f"{PV}/region/digue-du-port")
    assert ex["method"] == "trafilatura"
    for para in paragraphs("fr", 6, 40):
        assert para in ex["text"]
    assert "Accueil" not in ex["text"]


def test_teasers_and_newsletter_box_stay_out_of_the_text() -> None:
    ex, _ = run("body_boilerplate.html", f"{KC}/local/town-hall-clock")
    assert ex["method"] == "trafilatura"
    assert paragraphs("en", 3, 84)[0] in ex["text"]
    assert paragraphs("en", 3, 87)[-1] in ex["text"]
    for boilerplate in ("Sign up", "Morning Tide", "sourdough", "Swing bridge", "More from the Courier",
                        "Cookie settings"):
        assert boilerplate not in ex["text"]


# --- bad input ----------------------------------------------------------------------------------

def test_json_ld_that_does_not_parse_falls_back_to_meta_tags() -> None:
    ex, m = run("bad_jsonld.html", f"{KC}/local/mayor-no-to-tower")
    assert not any(source.startswith("json-ld") for source, _ in ex["meta"]["title"])
    assert m["title"] == 'Mayor says "no" to the tower on the quay'
    assert m["authors"] == ["Nadia Fontaine"]
    assert m["published"] == "2025-10-21T17:05:00+01:00"
    assert m["sources"]["published"] == "meta article:published_time"


def test_json_ld_describing_another_page_of_the_site_is_ignored_with_a_note() -> None:
    _, m = run("jsonld_other_url.html", f"{KC}/news/2025/05/12/tram-line-extension")
    assert m["title"] == "Tram line extension gets the green light"
    assert m["authors"] == ["Gwen Ashdown"]
    assert m["published"] == "2025-05-12T15:40:00+01:00"
    assert any("describes another URL" in note and "ferry-fares-rise-again" in note for note in m["notes"])


def test_json_ld_describing_another_page_lends_it_no_author() -> None:
    _, m = run("jsonld_other_url_no_meta.html", f"{KC}/news/2025/05/12/tram-line-extension")
    assert "Barnaby Quill" not in m["authors"]


def test_two_contradicting_article_objects() -> None:
    _, m = run("jsonld_two_articles.html", f"{KC}/2024/02/03/seal-pup-returns-to-the-sea")
    assert m["title"] == "Seal pup found on the promenade returns to the sea"
    assert m["published"].startswith("2024-02-03")
    assert m["authors"] == ["Lina Okafor"]


@pytest.mark.parametrize("html", ["", "   \n", "<html></html>",
                                  "<!DOCTYPE html><html><head></head><body></body></html>"])
def test_empty_page_gives_nothing_and_keeps_the_feeds_fields(html: str) -> None:
    url = f"{KC}/local/empty"
    ex = extract_article(html, url)
    assert ex["text"] == "" and ex["method"] == "none"
    m = reconcile(ex["meta"], {"title": "Harbour open day"}, url, FETCHED, ex["text"])
    assert m["title"] == "Harbour open day"
    assert (m["published"], m["date_flag"]) == (FETCHED, "missing")
    assert m["authors"] == []


BINARY = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
           + bytes(range(256)) * 4 + b"\n%%EOF\n",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 2,
    "gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(255, -1, -1)) * 3,
}


@pytest.mark.parametrize("kind", sorted(BINARY))
def test_non_html_bytes_do_not_crash(kind: str) -> None:
    url = f"{KC}/files/annual-report.{kind}"
    ex = extract_article(BINARY[kind], url)
    m = reconcile(ex["meta"], {"title": "Annual report 2025"}, url, FETCHED, ex["text"])
    assert m["title"] == "Annual report 2025"
    assert m["published"] == FETCHED


@pytest.mark.parametrize("kind", sorted(BINARY))
def test_non_html_bytes_give_no_text(kind: str) -> None:
    ex = extract_article(BINARY[kind], f"{KC}/files/annual-report.{kind}")
    assert ex["text"] == ""
    assert ex["method"] == "none"


# --- language -----------------------------------------------------------------------------------

def test_missing_html_lang_is_taken_from_the_text() -> None:
    _, m = run("lang_missing_fr.html", f"{PV}/patrimoine/phare-de-la-pointe")
    assert (m["lang"], m["sources"]["lang"]) == ("fr", "text")


def test_german_text_under_html_lang_en_is_german() -> None:
    ex, m = run("lang_en_declared_de_text.html", f"{NR}/wirtschaft/fernwaerme-preise")
    assert len(ex["text"].split()) >= 100
    assert (m["lang"], m["sources"]["lang"]) == ("de", "text")
