"""Every measured figure in README.md and docs/ comes from one result file under bench/results/.

The registry, the scan's patterns and its exemptions live in one place, docs/figures.toml (its
header says how a claim is written). Two checks:

- each claim's text is on its page and equals its source's values as the claim formats them;
- every measurement-like token in a page's prose lies inside a claim's (or an exemption's) text.
"""

from __future__ import annotations

import glob
import json
import re
import statistics
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = tomllib.loads((ROOT / "docs" / "figures.toml").read_text(encoding="utf-8"))
SCAN = REGISTRY["scan"]
CLAIMS = REGISTRY.get("claim", [])
EXEMPT = REGISTRY.get("exempt", [])
for _claim in CLAIMS:  # a short name from [sources] stands for its path
    _claim["source"] = REGISTRY.get("sources", {}).get(_claim["source"], _claim["source"])
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e-?\d+)?")


def _seeds(values):
    """Accuracies then training seconds of the same seeds -> mean, sd, median s, each, min s, max s."""
    half = len(values) // 2
    acc, secs = values[:half], values[half:]
    return [statistics.mean(acc), statistics.stdev(acc), statistics.median(secs), *acc,
            min(secs), max(secs)]


# How a claim turns its source's values into the ones its format writes (`op` in figures.toml).
OPS = {
    "range": lambda v: [min(v), max(v)],
    "ratio": lambda v: [v[0] / v[1]],
    "seeds": _seeds,
    "minutes": lambda v: [v[0], v[1] // 60, v[1] % 60],
}


def _squash(text):
    return " ".join(text.split())


def _json_value(data, path):
    for part in path.strip().split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return float(data)


def _json_values(data, key):
    parts = key.split(" / ")
    if len(parts) == 2:
        return _json_value(data, parts[0]) / _json_value(data, parts[1])
    return _json_value(data, key)


def source_values(claim):
    """The values a claim's source gives, after its op."""
    path = ROOT / claim["source"]
    text = path.read_text(encoding="utf-8")
    if "keys" in claim:
        data = json.loads(text)
        values = [_json_values(data, key) for key in claim["keys"]]
    else:
        match = re.search(claim["pattern"], text, re.MULTILINE)
        assert match, f"{claim['source']}: pattern {claim['pattern']!r} matches nothing"
        values = [float(n.replace(",", "")) for group in match.groups() for n in NUMBER.findall(group)]
    return OPS[claim["op"]](values) if "op" in claim else values


def _claim_id(claim):
    return f"{claim['page']}: {claim['text'][:60]}"


def claim_problems(claim, page_text=None):
    """Why a claim does not hold: its source gives other figures, or its page does not say it."""
    expected = claim["format"].format(*source_values(claim))
    if _squash(expected) != _squash(claim["text"]):
        return [f"{claim['source']} now gives {expected!r}, the claim says {claim['text']!r}: "
                f"update the claim's text in docs/figures.toml and the sentence on {claim['page']}"]
    if page_text is None:
        page_text = (ROOT / claim["page"]).read_text(encoding="utf-8")
    if _squash(claim["text"]) not in _squash(page_text):
        return [f"{claim['page']} does not say {claim['text']!r}, which {claim['source']} gives: "
                "write it there (the page's figure differs from its source, or its wording changed)"]
    return []


@pytest.mark.parametrize("claim", CLAIMS, ids=_claim_id)
def test_claim_matches_its_source(claim):
    problems = claim_problems(claim)
    assert not problems, problems[0]


def test_a_claim_off_its_source_or_its_page_is_named():
    claim = {"page": "docs/guide/performance.md", "source": "bench/results/limit.json",
             "keys": ["floors.2.exact_shapes_s"], "format": "floor ({0:.3f} s)", "text": "floor (0.161 s)"}
    assert "now gives 'floor (0.170 s)'" in claim_problems(claim, "floor (0.161 s)")[0]
    claim["text"] = "floor (0.170 s)"
    assert not claim_problems(claim, "the floor\n(0.170 s).")
    assert "does not say" in claim_problems(claim, "the floor (0.17 s).")[0]


SOURCES = sorted({claim["source"] for claim in CLAIMS})
MACHINE = re.compile(r"Xeon|EPYC|Intel|AMD")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_names_its_machine_and_date(source):
    path = ROOT / source
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":  # the machine and date sit in its environment record
        text = json.dumps(json.loads(text).get("environment", {}))
    elif path.with_suffix(".json").exists():  # a report may leave them to its JSON twin
        text += path.with_suffix(".json").read_text(encoding="utf-8")
    assert MACHINE.search(text) and DATE.search(text), (
        f"{source} says no machine or no date: a result file records where and when it ran")


def pages():
    found = {Path(p).relative_to(ROOT).as_posix()
             for pattern in SCAN["pages"] for p in glob.glob(str(ROOT / pattern), recursive=True)}
    return sorted(p for p in found if not any(p == s or p.startswith(s + "/") for s in SCAN["skip"]))


def _blank(text):
    return " " * len(text)


def prose_lines(text):
    """(line number, offset, line) the scan reads: inline code (Markdown's `x`, reST's ``x``) and a
    fenced block's code outside its comments blanked, so offsets stay the page's."""
    fenced, offset = False, 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        start, offset = offset, offset + len(line)
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            code, sep, comment = line.partition(" #")
            if sep:
                yield number, start, _blank(code + sep) + comment
            continue
        yield number, start, re.sub(r"``.*?``|`[^`]*`", lambda m: _blank(m.group(0)), line)


def _spans(text, page):
    """Where on the page each claim's or exemption's text stands (any whitespace between words)."""
    for entry in CLAIMS + EXEMPT:
        if entry["page"] == page:
            words = r"\s+".join(map(re.escape, entry["text"].split()))
            yield from ((m.start(), m.end()) for m in re.finditer(words, text))


def unsourced(page, text=None):
    """'page:line: token' for each measurement-like token no claim or exemption on the page covers."""
    pattern, bound = re.compile(SCAN["pattern"]), re.compile(SCAN["bound"])
    text = (ROOT / page).read_text(encoding="utf-8") if text is None else text
    spans = list(_spans(text, page))
    misses = []
    for number, start, line in prose_lines(text):
        for match in pattern.finditer(line):
            a, b = start + match.start(), start + match.end()
            if bound.search(text[max(0, a - 40):a]):
                continue
            if not any(lo <= a and b <= hi for lo, hi in spans):
                misses.append(f"{page}:{number}: {match.group(0)!r}")
    return misses


@pytest.mark.parametrize("page", pages())
def test_every_figure_on_a_page_has_a_source(page):
    misses = unsourced(page)
    assert not misses, (
        "figures with no source in docs/figures.toml (add a claim naming the result file under "
        "bench/results/, or an exemption if it is a parameter or target):\n" + "\n".join(misses))


def test_the_scan_catches_the_known_cases_and_not_parameters():
    pattern = re.compile(SCAN["pattern"])
    for measured in ["0.907 test accuracy", "in 28 s", "28-78 s", "1.9x the floor", "490 MiB",
                     "0.9065", "32.4 s", "1.76x", "10.7 %", "397,240 rows/s", "85-90 ms"]:
        assert pattern.search(measured), measured
    for parameter in ["784-256-128-10", "8x8 digits", "--lr=0.001", "lr 1e-3", "batch 128",
                      "30 epochs", "seed 0", "hidden 512,256", "0.51179 loss"]:
        assert not pattern.search(parameter), parameter


def test_the_issue_s_wrong_figures_would_fail():
    """The sentences issue 41 found wrong, put back on their pages, are each named."""
    old = {
        "README.md": "xpnn train --dataset fashion-mnist  # 0.907 test accuracy in 28 s on 2 CPU cores",
        "docs/guide/performance.md": "xpnn's epoch is 1.9x the GEMM-only floor for these shapes (0.161 s).",
        "docs/guide/cli.md": "| 0.9071 test accuracy (seed 0; 0.9027 and 0.9047 with seeds 1 and 2), 28-78 s |",
    }
    fenced = {"README.md": "```bash\n{}\n```\n"}
    for page, line in old.items():
        text = fenced.get(page, "{}\n").format(line)
        assert unsourced(page, text), (page, line)
    assert unsourced("docs/guide/performance.md", "reaches 0.904 (3 seeds, sd 0.001) in 36 s\n") == [
        "docs/guide/performance.md:1: '0.904'", "docs/guide/performance.md:1: '36 s'"]
    assert not unsourced("docs/guide/tests.md", "a sparse epoch under\n0.75 GiB, `--lr 0.001`\n")
