"""Subscribers: the private database, address validation, profiles, tokens and the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.publish.digest.subscribers import (
    PROFILES,
    Subscriber,
    SubscriberError,
    list_subscribers,
    normalize_email,
    open_private_db,
    private_db_path,
    remove_subscriber,
    resolve_preferences,
    save_send,
    save_subscriber,
    sent_ids,
)

TOPICS = ["sovereignty", "open-source", "regulation", "export-controls", "funding"]
VENDORS = ["Mistral AI", "Anthropic", "Nvidia"]


def kb(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("address", ["ana@example.org", "Li.Wei+ai@Mail.Example.CO.uk", "x_y@a-b.io"])
def test_valid_addresses_are_lower_cased(address: str) -> None:
    assert normalize_email(address) == address.lower()


@pytest.mark.parametrize("address", ["", "ana", "ana@", "@example.org", "ana@example", "a b@example.org",
                                     "ana@@example.org", "ana@exa_mple.org", ".ana@example.org",
                                     "ana..b@example.org", "<ana@example.org>",
                                     "ana@example.org\nBcc: x@evil.org"])
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(SubscriberError, match="not a valid email address"):
        normalize_email(address)


def test_private_db_sits_beside_the_knowledge_base(tmp_path: Path) -> None:
    assert private_db_path(tmp_path / "kb.db") == tmp_path / "kb.private.db"
    assert private_db_path(tmp_path / "kb.db", str(tmp_path / "subs.db")) == tmp_path / "subs.db"
    with pytest.raises(SubscriberError, match="must not be the knowledge base"):
        private_db_path(tmp_path / "kb.db", str(tmp_path / "kb.db"))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profiles_expand_to_their_topics(profile: str) -> None:
    topics, vendors = resolve_preferences(topics=["funding"], vendors=[], profile=profile, lang="en",
                                          known_topics=TOPICS, known_vendors=VENDORS)
    assert topics[:len(PROFILES[profile]["topics"])] == PROFILES[profile]["topics"]
    assert "funding" in topics and len(topics) == len(set(topics))
    assert vendors == []


def test_policy_profile_is_regulation_export_controls_sovereignty() -> None:
    topics, _ = resolve_preferences(topics=[], vendors=[], profile="policy", lang="en",
                                    known_topics=TOPICS, known_vendors=VENDORS)
    assert sorted(topics) == ["export-controls", "regulation", "sovereignty"]
    assert Subscriber("a@b.org", profile="investor").vendor_watch
    assert not Subscriber("a@b.org", profile="policy").vendor_watch


def test_vendors_resolve_to_canonical_names_and_unknown_ones_are_refused() -> None:
    _, vendors = resolve_preferences(topics=[], vendors=["mistral ai", "NVIDIA"], profile=None, lang="fr",
                                     known_topics=TOPICS, known_vendors=VENDORS)
    assert vendors == ["Mistral AI", "Nvidia"]
    with pytest.raises(SubscriberError, match="did you mean 'Mistral AI'"):
        resolve_preferences(topics=[], vendors=["Mistrel AI"], profile=None, lang="en",
                            known_topics=TOPICS, known_vendors=VENDORS)
    with pytest.raises(SubscriberError, match="unknown topic 'crypto'"):
        resolve_preferences(topics=["crypto"], vendors=[], profile=None, lang="en",
                            known_topics=TOPICS, known_vendors=VENDORS)
    with pytest.raises(SubscriberError, match="unsupported language"):
        resolve_preferences(topics=[], vendors=[], profile=None, lang="es",
                            known_topics=TOPICS, known_vendors=VENDORS)


def test_save_update_remove_and_tokens(tmp_path: Path) -> None:
    db = open_private_db(tmp_path / "kb.private.db")
    first, new = save_subscriber(db, Subscriber("Ana@Example.org", topics=["funding"]))
    assert new and first.email == "ana@example.org" and len(first.token) >= 20
    second, _ = save_subscriber(db, Subscriber("li@example.org"))
    assert second.token != first.token
    again, new = save_subscriber(db, Subscriber("ana@example.org", topics=["regulation"], lang="de"))
    assert not new and again.token == first.token and again.topics == ["regulation"] and again.lang == "de"
    assert [s.email for s in list_subscribers(db)] == ["ana@example.org", "li@example.org"]
    save_send(db, again, "2026-W46", ok=True, message_id="<m@x>")
    assert sent_ids(db, "2026-W46") == {again.id}
    assert remove_subscriber(db, first.token).email == "ana@example.org"
    assert sent_ids(db, "2026-W46") == set()
    with pytest.raises(SubscriberError, match="no subscriber"):
        remove_subscriber(db, "ana@example.org")


def test_cli_add_list_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    code, out, _ = kb("subscribers", "add", "ana@example.org", "--db", db, "--profile", "policy")
    assert code == 0 and "added ana@example.org" in out and "regulation" in out
    code, out, _ = kb("subscribers", "add", "li@example.org", "--db", db, "--topic", "funding",
                      "--vendor", "mistral ai", "--lang", "fr")
    assert code == 0 and "vendors Mistral AI" in out and "language fr" in out
    code, out, err = kb("subscribers", "list", "--db", db, "--tokens")
    assert code == 0 and out.count("@example.org") == 2 and "last sent never" in out and "token " in out
    assert "2 subscribers" in err
    code, out, _ = kb("subscribers", "remove", "ANA@example.org", "--db", db)
    assert code == 0 and "removed ana@example.org" in out
    code, out, _ = kb("subscribers", "list", "--db", db)
    assert "ana@" not in out and "li@example.org" in out


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    for args, message in [
        (["subscribers", "add", "not-an-address", "--db", db], "is not a valid email address"),
        (["subscribers", "add", "a@example.org", "--db", db, "--topic", "nope"], "unknown topic 'nope'"),
        (["subscribers", "add", "a@example.org", "--db", db, "--vendor", "Acme Robotics"], "unknown vendor"),
        (["subscribers", "remove", "ghost@example.org", "--db", db], "no subscriber"),
    ]:
        code, _, err = kb(*args)
        assert code == 1, args
        assert err.startswith("Error: ") and message in err and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_subscribers_stay_out_of_the_knowledge_base(tmp_path: Path) -> None:
    """The knowledge base Datasette serves holds no address; `kb serve` is given only that file."""
    from kb.publish.serve import datasette_args

    db = tmp_path / "kb.db"
    assert kb("init", "--db", str(db))[0] == 0
    assert kb("subscribers", "add", "secret@example.org", "--db", str(db))[0] == 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        dump = "\n".join(conn.iterdump())
    assert "subscribers" not in tables and "secret@example.org" not in dump
    args = datasette_args(db, host="127.0.0.1", port=8001, metadata=tmp_path / "m.json")
    assert not any("private" in a for a in args)
    with sqlite3.connect(tmp_path / "kb.private.db") as conn:
        assert conn.execute("select email from subscribers").fetchall() == [("secret@example.org",)]
