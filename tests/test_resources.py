"""Bundled files are read through importlib.resources, and writable state never goes into the package."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import kb
from kb.cli import cli
from kb.core.resources import bundled
from kb.enrich.topics import SHIPPED_MODEL, load_model, model_file
from kb.publish.serve import DATASETTE_DIR


def test_the_site_corpus_and_configurations_are_package_data():
    assert (DATASETTE_DIR / "metadata.yaml").is_file()
    assert (DATASETTE_DIR / "templates" / "aiwatch_search.html").is_file()
    assert (bundled("kb.evaluation", "corpus") / "labels.json").is_file()
    assert (bundled("kb", "config") / "demo.yaml").is_file()
    assert str(DATASETTE_DIR).startswith(str(Path(kb.__file__).parent))


def test_a_refitted_topic_model_goes_to_the_data_folder_and_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("AIWATCH_DATA_DIR", str(tmp_path))
    assert model_file() == SHIPPED_MODEL
    (tmp_path / "topic_model.json").write_text(json.dumps({"version": "mine", "topics": {}}))
    assert model_file() == tmp_path / "topic_model.json"
    assert load_model()["version"] == "mine"


def test_sample_labels_are_written_where_asked(tmp_path):
    out = tmp_path / "labels.json"
    result = CliRunner().invoke(cli, ["sample", "labels", "--out", str(out)])
    assert result.exit_code == 0, result.output
    shipped = json.loads((bundled("kb.evaluation", "corpus") / "labels.json").read_text(encoding="utf-8"))
    assert json.loads(out.read_text(encoding="utf-8")) == shipped
