"""The command line's reference, written from the code at docs build time (so it cannot drift).

docs/guide/cli.md holds three fenced blocks, each replaced here as the page is read::

    ```{xpnn-cli} reference      every command and flag, from xpnn.cli.parser.build_parser()
    ```{xpnn-cli} exit-codes     the exit status of each outcome, from parser.EXIT_STATUS
    ```{xpnn-cli} defaults       the CLI's defaults beside MLPClassifier's, where they differ

A block left unreplaced (this extension not loaded) is an unknown directive: an error under -W.
"""
from __future__ import annotations

import argparse
import math
import re

from xpnn.cli.parser import has_default

# what each expected failure is, in the reader's words, in Markdown (keys: the classes of
# EXIT_STATUS)
FAILURES = {
    "XpnnError": "bad input, flag or file: one line on stderr naming it, nothing written "
                 "(a bad flag too)",
    "OSError": "an output that cannot be written (disk full, permissions, a missing folder)",
    "DivergenceError": "training diverged (NaN/inf loss): the line says at which epoch and "
                       "what to lower",
    "KeyboardInterrupt": "interrupted (Ctrl-C); `xpnn train --save` leaves a file that "
                         "`--resume` continues",
}

# why the CLI's default differs from the library's, per MLPClassifier parameter (Markdown):
# its flag, the reason, and the flags of each variant whose value the table shows too
WHY = {
    "hidden_layer_sizes": ("--hidden", "the recipe's network, sized for the data set; "
                           "scikit-learn's (100,) is a general-purpose start", ()),
    "max_iter": ("--epochs", "the recipe's epochs: without `--early-stopping` a run trains "
                 "exactly this many; the library's is scikit-learn's upper bound, which its "
                 "`tol` test can end earlier", ()),
    "batch_size": ("--batch-size", "the recipe's: small batches suit the 1,797 digits; "
                   "`'auto'` is `min(200, n_samples)`", ()),
    "learning_rate": ("--lr-schedule", "the recipe's: a cosine decay to 0 over the run's "
                      "epochs reaches the same accuracy in fewer of them; the library keeps "
                      "scikit-learn's constant rate", ()),
    "learning_rate_init": ("--lr", "the recipe's rate depends on `--optimizer` (plain SGD "
                           "needs a larger step than Adam) and on its batch size (twice "
                           "the rate for the digits' batches of 64); the library keeps "
                           "scikit-learn's 0.001 for every solver",
                           [("--optimizer", name) for name in
                            ("sgd", "momentum", "nesterov", "adamw")]),
    "alpha": ("--alpha", "the recipes' results were measured without an L2 penalty; the "
              "library keeps scikit-learn's, so replacing scikit-learn's MLPClassifier fits "
              "the same model", ()),
    "dtype": ("--dtype", "the CLI reads the files itself and trains in float32 (half the "
              "memory of float64); the library trains in the caller's arrays' dtype (None), "
              "as scikit-learn", ()),
    "random_state": ("--seed", "a command should give the same result twice; the library "
                     "follows scikit-learn (None: a fresh seed each fit)", ()),
    "n_iter_no_change": ("--patience", "without `--early-stopping` (or the adaptive "
                         "schedule) a run trains exactly `--epochs`; with it, a shorter "
                         "patience suits the recipes' fewer epochs; the library's `tol` test "
                         "always runs, as scikit-learn's",
                         [("--early-stopping",)]),
}


def _escape(text: str) -> str:
    """Plain text for a Markdown table cell; each flag it names (--lr) as code, which keeps
    its two hyphens (in prose they would become a dash)."""
    escaped = re.sub(r"([\\`*_\[\]<>|])", r"\\\1", " ".join(str(text).split()))
    return re.sub(r"(?<![\w-])(--[a-z][\w-]*)", lambda match: "`" + match.group(1).replace(
        "\\_", "_") + "`", escaped)


def _setting(flag, value) -> str:
    """A CLI value as the flag that gives it; "off" for a rule the run does not apply."""
    return "off" if value == math.inf else f"`{flag} {_shown(value)}`"


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _commands(parser):
    action = next(action for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction))
    summary = {choice.dest: choice.help for choice in action._choices_actions}
    return [(name, command, summary.get(name, "")) for name, command in action.choices.items()]


def _flag_table(parser) -> list[str]:
    """One table per argument group: the flag as typed, its default, its help."""
    formatter = argparse.HelpFormatter(parser.prog)  # expands %(default)s, adds nothing
    lines = []
    for group in parser._action_groups:
        actions = [action for action in group._group_actions if action.dest != "help"
                   and not isinstance(action, argparse._SubParsersAction)]
        if not actions:
            continue
        lines += [f"**{group.title}**", "", "| flag | default | what it does |", "|---|---|---|"]
        for action in actions:
            invocation = formatter._format_action_invocation(action)
            shown = has_default(action) and not action.required
            default = f"`{_shown(action.default)}`" if shown else ""
            help_text = formatter._expand_help(action) if action.help else ""
            lines.append(f"| `{invocation.replace('|', chr(92) + '|')}` | {default} | "
                         f"{_escape(help_text)} |")
        lines.append("")
    return lines


def reference(parser=None) -> str:
    """Every command of ``xpnn`` and every flag, as Markdown sections."""
    from xpnn.cli.parser import build_parser

    parser = parser or build_parser()
    lines = ["### xpnn", "", _escape(parser.description or ""), "",
             "```text", parser.format_usage().strip(), "```", ""]
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`xpnn {name}`](#xpnn-{name}) | {_escape(summary)} |"
              for name, _, summary in _commands(parser)]
    lines.append("")
    lines += _flag_table(parser)
    for name, command, summary in _commands(parser):
        lines += [f"### xpnn {name}", "", f"*{_escape(summary)}.*", "",
                  _escape(command.description or ""), "",
                  "```text", command.format_usage().strip(), "```", ""]
        lines += _flag_table(command)
    return "\n".join(lines)


def exit_codes() -> str:
    """The exit status of each outcome, from the CLI's own table."""
    from xpnn.cli.parser import EXIT_STATUS

    meanings = {0: ["success"], 1: ["a failed check: `xpnn gradcheck` above `--tol`"]}
    for kind, status in EXIT_STATUS.items():
        meanings.setdefault(status, []).append(FAILURES[kind.__name__])
    lines = ["| status | meaning |", "|---|---|"]
    lines += [f"| {status} | {'; '.join(texts)} |"
              for status, texts in sorted(meanings.items())]
    return "\n".join(lines)


def _cli_params(*flags) -> dict:
    """The estimator parameters ``xpnn train`` on the digits passes with these flags."""
    from xpnn.cli.commands.train import model_params
    from xpnn.cli.parser import build_parser
    from xpnn.cli.recipes import with_recipe

    args = build_parser().parse_args(["train", *flags])
    args.given = {flag for flag in flags if flag.startswith("--")}
    return model_params(with_recipe(args))


def differing_defaults() -> list[str]:
    """The MLPClassifier parameters whose default ``xpnn train`` changes."""
    from xpnn import MLPClassifier

    library = MLPClassifier().get_params()
    return [name for name, value in _cli_params().items()
            if name in library and value != library[name]]


def defaults() -> str:
    """The CLI's default beside the library's for every setting where they differ, and why."""
    from xpnn import MLPClassifier

    library = MLPClassifier().get_params()
    missing = set(differing_defaults()) - set(WHY)
    if missing:
        raise ValueError(f"xpnn_cli_docs.WHY: say why the CLI's default differs for "
                         f"{', '.join(sorted(missing))}")
    base = _cli_params()
    lines = ["| setting | `xpnn train` (digits) | `MLPClassifier()` | why |", "|---|---|---|---|"]
    for name, (flag, why, variants) in WHY.items():
        cli = _setting(flag, base[name])
        for variant in variants:
            cli += f"; with `{' '.join(variant)}`: {_setting(flag, _cli_params(*variant)[name])}"
        lines.append(f"| {name} | {cli} | `{library[name]!r}` | {why} |")
    return "\n".join(lines)


BLOCKS = {"reference": reference, "exit-codes": exit_codes, "defaults": defaults}
FENCE = re.compile(r"^```\{xpnn-cli\} ([\w-]+)\n```$", re.MULTILINE)


def expand(text: str) -> str:
    """The page's text with each ``{xpnn-cli}`` block replaced by what it names."""
    return FENCE.sub(lambda match: BLOCKS[match.group(1)](), text)


def _on_source_read(app, docname, source):
    if "{xpnn-cli}" in source[0]:
        source[0] = expand(source[0])


def setup(app):
    app.connect("source-read", _on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
