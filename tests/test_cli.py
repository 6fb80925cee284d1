"""Every command has help text with an example where it acts, and the README mentions it."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kb import __version__
from kb.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def all_commands(group: click.Group = cli, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        out.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            out += all_commands(command, f"{prefix}{name} ")
    return out


COMMANDS = all_commands()


def test_interface_commands_exist():
    names = {name for name, _ in COMMANDS}
    for required in ["init", "crawl", "enrich", "update", "search", "export", "serve", "digest",
                     "subscribers add", "subscribers list", "subscribers remove", "eval", "schedule"]:
        assert required in names


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_works_and_says_something(name, command):
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert command.help and len(command.help.strip()) > 10
    assert f"kb {name}" in README, f"README does not mention 'kb {name}'"


@pytest.mark.parametrize("name, command", [(n, c) for n, c in COMMANDS if not isinstance(c, click.Group)],
                         ids=[n for n, c in COMMANDS if not isinstance(c, click.Group)])
def test_every_database_command_takes_db(name, command):
    if name in ("sample serve", "sample labels", "train-topics", "crawl-worker"):
        return  # these never open a knowledge base (a crawl worker talks to Redis only)
    assert any("--db" in p.opts for p in command.params), name


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_export_without_database_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(cli, ["export", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no database at {tmp_path / 'none.db'}: run 'kb init' first"


def test_init_creates_the_database(tmp_path):
    result = CliRunner().invoke(cli, ["init", "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 0 and "schema version" in result.output
    assert (tmp_path / "kb.db").exists()


def test_readme_command_reference_is_current():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    cog = Path(sys.executable).parent / "cog"
    proc = subprocess.run([str(cog), "--check", "README.md"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, "README's command reference is stale: run 'make docs'"
