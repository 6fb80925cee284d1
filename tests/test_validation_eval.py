"""`kb eval --validation`: an independently written labelled set, measured like the sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import LOREM

from kb.cli import cli
from kb.evaluation.sample import load_articles, load_outlets, load_queries
from kb.evaluation.validation import write_corpus


def article(n: int, outlet: str, lang: str, **labels: Any) -> dict[str, Any]:
    return {
        "id": f"v{n:03d}", "outlet": outlet, "outlet_name": outlet.title(),
        "url_path": f"{outlet}/2025/06/story-{n}/", "title": f"Story number {n} on AI rules",
        "author": "Ines Calloway" if n % 2 else None, "published": f"2025-06-{n:02d}T09:00:00+02:00",
        "lang": lang, "paragraphs": LOREM, "topics": labels.get("topics", []),
        "vendors": labels.get("vendors", {"main": [], "mentioned": []}),
        "jurisdictions": labels.get("jurisdictions", []),
        "funding_events": labels.get("funding_events", []), "story": labels.get("story", f"s{n}"),
        "best_for": ["policy"],
    }


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True)
    articles = [
        article(1, "quay-post", "en", topics=["regulation"], jurisdictions=["EU"],
                vendors={"main": ["Mistral AI"], "mentioned": ["OpenAI"]}, story="code"),
        article(2, "quay-post", "en", topics=["regulation"], story="code"),
        article(3, "rive-gauche", "fr", topics=["regulation"], story="code"),
    ]
    (folder / "articles.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    (folder / "queries.jsonl").write_text(json.dumps(
        {"id": "q01", "query": "code of practice for AI", "lang": "en", "kind": "keyword",
         "relevant": {"v001": 2, "v003": 1}}) + "\n", encoding="utf-8")
    return folder


def test_the_set_is_laid_out_as_a_corpus_the_sample_loaders_read(tmp_path: Path) -> None:
    corpus = write_corpus(write_set(tmp_path / "set"), tmp_path / "corpus")
    outlets = {o["slug"]: o for o in load_outlets(corpus)}
    assert set(outlets) == {"quay-post", "rive-gauche"} and outlets["rive-gauche"]["lang"] == "fr"
    first, second, _ = load_articles(corpus)
    assert first["labels"]["vendors"] == ["Mistral AI", "OpenAI"]
    assert first["labels"]["main_vendors"] == ["Mistral AI"]
    assert first["body"].split("\n\n") == LOREM and first["author"] == "Ines Calloway"
    assert second["author"] == ""  # unsigned wire copy
    [query] = load_queries(corpus)
    assert query["judgments"] == {"v001": 2, "v003": 1}


def test_a_missing_or_broken_set_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--validation", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no validation set at" in result.output and len(result.output.strip().splitlines()) == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "articles.jsonl").write_text("{not json\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "--validation", str(broken)])
    assert result.exit_code == 1 and "not JSON Lines" in result.output


@pytest.mark.slow  # crawls and enriches with the embedding models
def test_kb_eval_scores_a_held_out_set_without_fitting_on_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--validation", str(write_set(tmp_path / "set")),
                                      "--json", "-q"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    assert figures["articles"] == figures["labelled"] == 3
    assert figures["topics"]["note"].startswith("as enrichment assigned them")
    assert set(figures["topics"]["by_lang"]) == {"en", "fr"}
    assert "main_vendors" in figures and figures["search"]["queries"] == 1
    assert figures["extraction"]["f1"] > 0.9
