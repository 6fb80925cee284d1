import pytest
from conftest import run_kb

from kb.core.config import load_config, parse_config
from kb.core.errors import ConfigError


def test_bundled_default_lists_at_least_25_real_feeds():
    config = load_config("default")
    assert len(config.sources) >= 25
    assert all(s.feed_url.startswith("https://") for s in config.sources)
    assert len({s.id for s in config.sources}) == len(config.sources)


def test_demo_config_points_at_the_local_sample_site():
    config = load_config("demo")
    assert len(config.sources) == 12
    assert all(s.feed_url.startswith("http://127.0.0.1:8765/") for s in config.sources)


@pytest.mark.parametrize("data, message", [
    ({"sourcez": []}, "sourcez: unknown key"),
    ({"sources": [{"id": "a", "name": "A"}]}, "sources[0].feed_url: required text is missing"),
    ({"sources": [{"id": "a", "name": "A", "feed_url": "ftp://x"}]},
     "sources[0].feed_url: not an http(s) URL"),
    ({"sources": [{"id": "A B", "name": "A", "feed_url": "http://x/f"}]}, "sources[0].id: use lowercase"),
    ({"crawl": {"download_delay": "fast"}}, "crawl.download_delay: expected float"),
    ({"crawl": {"timeout": -1}}, "crawl.timeout: must not be negative"),
    ({"smtp": {"security": "tls"}}, "smtp.security: must be none, starttls or ssl"),
    ({"schedule": {"every": 5}}, "schedule.every: unknown key"),
])
def test_bad_configuration_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        parse_config(data)


def test_duplicate_source_ids_are_refused():
    source = {"id": "a", "name": "A", "feed_url": "http://x/f"}
    with pytest.raises(ConfigError, match="duplicate source id"):
        parse_config({"sources": [source, source]})


def test_cli_reports_a_config_error_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - id: x\n    name: X\n    feed_url: nope\n")
    proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "--config", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "sources[0].feed_url: not an http(s) URL" in proc.stderr


def test_cli_reports_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "--config", str(bad))
    assert proc.returncode == 1 and "invalid YAML at line" in proc.stderr
    proc = run_kb("crawl", "--db", str(tmp_path / "kb.db"), "--config", str(tmp_path / "none.yaml"))
    assert proc.returncode == 1 and "not found" in proc.stderr
