"""docs/guide/cli.md's reference is the parser's own: every command and flag, the exit codes,
and the CLI's defaults beside the library's, written at docs build time by
docs/_ext/xpnn_cli_docs.py (so a flag added to the parser cannot be missing from the page);
and every ```python block on the page runs as it stands."""
import argparse
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guide" / "cli.md"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import xpnn_cli_docs  # noqa: E402


def commands():
    from xpnn.cli.parser import build_parser

    parser = build_parser()
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    return parser, subparsers.choices


def test_the_page_holds_every_generated_block_and_they_expand():
    text = PAGE.read_text(encoding="utf-8")
    for name in xpnn_cli_docs.BLOCKS:
        assert f"```{{xpnn-cli}} {name}\n```" in text, name
    expanded = xpnn_cli_docs.expand(text)
    assert "{xpnn-cli}" not in expanded
    assert "### xpnn gradcheck" in expanded and "| 130 |" in expanded


def test_the_reference_names_every_command_and_every_flag_with_its_help():
    parser, choices = commands()
    reference = xpnn_cli_docs.reference()
    sections = re.split(r"^### ", reference, flags=re.MULTILINE)[1:]
    by_title = {section.split("\n", 1)[0]: section for section in sections}
    assert set(by_title) == {"xpnn"} | {f"xpnn {name}" for name in choices}
    assert "--version" in by_title["xpnn"]
    for name, command in choices.items():
        section = by_title[f"xpnn {name}"]
        for action in command._actions:
            if action.dest == "help":
                continue
            shown = action.option_strings[-1] if action.option_strings else action.metavar
            row = next((line for line in section.splitlines()
                        if line.startswith(f"| `{shown}")), None)
            assert row is not None, f"xpnn {name} {shown} is not in the reference"
            first_words = xpnn_cli_docs._escape(" ".join(action.help.split()[:3]))
            assert first_words in row, (name, shown, row)


def test_a_zero_default_shows_in_the_reference_and_none_shows_nothing():
    reference = xpnn_cli_docs.reference()
    train = reference.split("### xpnn train\n", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"^\| `--seed SEED` \| `0` \|", train, re.MULTILINE)
    assert re.search(r"^\| `--alpha ALPHA` \| `0.0` \|", train, re.MULTILINE)
    assert re.search(r"^\| `--hidden HIDDEN` \|  \|", train, re.MULTILINE)  # the recipe's


def test_the_exit_codes_are_the_parser_s_table():
    from xpnn.cli.parser import EXIT_STATUS

    table = xpnn_cli_docs.exit_codes()
    statuses = [int(cell) for cell in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)]
    assert statuses == sorted({0, 1, *EXIT_STATUS.values()})
    assert set(xpnn_cli_docs.FAILURES) == {kind.__name__ for kind in EXIT_STATUS}


def test_the_defaults_table_is_the_code_s_and_a_new_difference_needs_its_why(monkeypatch):
    from xpnn import MLPClassifier
    from xpnn.cli import recipes

    library = MLPClassifier().get_params()
    table = xpnn_cli_docs.defaults()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert set(xpnn_cli_docs.differing_defaults()) <= set(rows)
    for name, row in rows.items():
        assert f"`{library[name]!r}`" in row, name
    assert "`--hidden 256,128`" in rows["hidden_layer_sizes"]
    assert "`--alpha 0.0`" in rows["alpha"] and "`0.0001`" in rows["alpha"]
    sgd_rate = recipes.RECIPES["digits"]["default"]["lr"]["sgd"]  # the recipe's, by optimizer
    assert f"with `--optimizer sgd`: `--lr {sgd_rate:g}`" in rows["learning_rate_init"]
    assert "`--lr-schedule cosine`" in rows["learning_rate"]
    assert "off; with `--early-stopping`: `--patience 5`" in rows["n_iter_no_change"]
    digits = {**recipes.RECIPES["digits"]["default"], "activation": "tanh"}
    monkeypatch.setitem(recipes.RECIPES["digits"], "default", digits)
    with pytest.raises(ValueError, match="say why the CLI's default differs for activation"):
        xpnn_cli_docs.defaults()


def test_every_python_block_on_the_page_runs(capsys, tmp_path, monkeypatch):
    from test_doc_blocks import blocks_of, run_page  # the guide's one block reader and runner

    blocks = [block for block in blocks_of(PAGE) if block.kind == "python"]
    assert blocks
    monkeypatch.chdir(tmp_path)
    run_page(blocks, tmp_path)
    assert "test accuracy" in capsys.readouterr().out
