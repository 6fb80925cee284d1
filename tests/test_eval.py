"""`kb eval`: every metric key on the sample corpus, and extraction on the public benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from kb.cli import cli
from kb.evaluation.metrics import bcubed, ndcg_at, recall_at, set_prf

AEB = ROOT.parent / "shared" / "aeb"


def test_metrics_on_known_cases():
    assert ndcg_at(["a", "b"], {"a": 2, "b": 1}) == 1.0
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1}) < 1.0
    assert recall_at(["x", "a"], {"a": 2, "b": 1}, 20) == 0.5
    assert set_prf({1: {"A"}}, {1: {"A", "B"}})["precision"] == 0.5
    perfect = bcubed({1: "s", 2: "s", 3: "t"}, {1: "x", 2: "x", 3: "y"})
    assert perfect["f1"] == 1.0
    merged = bcubed({1: "s", 2: "t"}, {1: "x", 2: "x"})
    assert merged["recall"] == 1.0 and merged["precision"] == 0.5


def test_eval_json_has_every_metric(demo_db_copy):
    result = CliRunner().invoke(cli, ["eval", "--db", str(demo_db_copy), "--json", "-q"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    assert figures["articles"] == 156
    assert set(figures["extraction"]) >= {"precision", "recall", "f1", "by_lang"}
    assert set(figures["topics"]["per_topic"]) == {"sovereignty", "open-source", "regulation",
                                                   "export-controls", "funding"}
    assert "cross-validated" in figures["topics"]["note"]
    for key in ("vendors", "jurisdictions", "funding", "stories"):
        assert 0.0 <= figures[key]["f1"] <= 1.0
    for mode in ("keyword", "semantic", "hybrid", "baseline_keyword", "baseline_semantic",
                 "baseline_hybrid"):
        assert {"ndcg@10", "recall@20"} <= set(figures["search"][mode])
    # floors: a change that breaks a capability fails here
    assert figures["topics"]["macro_f1"] >= 0.85
    assert figures["vendors"]["f1"] >= 0.95
    assert figures["funding"]["f1"] >= 0.85
    assert figures["stories"]["f1"] >= 0.90
    assert figures["search"]["hybrid"]["ndcg@10"] > figures["search"]["baseline_hybrid"]["ndcg@10"]


def test_aeb_missing_is_said_plainly(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--aeb", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no article-extraction benchmark at" in result.output


@pytest.mark.slow  # loads the embedding models or reads a large benchmark
@pytest.mark.skipif(not (AEB / "data" / "ground-truth.json").exists(),
                    reason="the article-extraction benchmark is not beside this checkout")
def test_crawl_extraction_on_the_benchmark_beats_plain_trafilatura():
    result = CliRunner().invoke(cli, ["eval", "--aeb", str(AEB), "--json", "-q"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    ours = figures["scores"]["kb crawl (stored)"]
    bare = figures["scores"]["trafilatura defaults"]
    assert figures["crawled"] == figures["pages"] == figures["labelled_pages"] == 181
    assert ours["empty"] == 0
    assert ours["f1"] >= 0.95
    assert ours["f1"] >= bare["f1"]
    # title, date and authors against our labels of the same pages
    mine, theirs = ours["metadata"], bare["metadata"]
    assert mine["title_exact"] >= 0.90 > theirs["title_exact"]
    assert mine["authors_f1"] >= 0.85 and mine["authors_f1"] > theirs["authors_f1"]
    assert mine["date_same_day"] >= theirs["date_same_day"]


def test_labels_path_is_in_the_repository():
    assert (Path(ROOT) / "kb" / "evaluation" / "corpus" / "labels.json").exists()
