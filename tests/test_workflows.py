"""The GitHub workflows pass zizmor's offline audit with no finding, suppressed ones included,
and pin each action to a commit hash with its tag beside it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
ZIZMOR = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
PINNED = re.compile(r"^\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")

# The workflow before issue 37: tags, not hashes, the default token permissions and credentials
UNPINNED = """\
name: CI (CPU)
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: python -m pytest
"""


def audit(workflows):
    """zizmor's exit status and output (the pedantic persona: nothing is suppressed)."""
    if ZIZMOR is None:
        pytest.skip("zizmor is not installed (pip install 'xpnn[test]')")
    result = subprocess.run([ZIZMOR, "--offline", "--persona=pedantic", str(workflows)],
                            check=False, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def problems(workflows):
    """Each unpinned `uses:` line and each checkout that keeps its credentials, by file:line."""
    found = []
    for path in sorted(workflows.glob("*.y*ml")):
        lines = path.read_text().splitlines()
        found += [f"{path.name}:{n}: not pinned to a hash with '# vX': {line.strip()}"
                  for n, line in enumerate(lines, 1)
                  if re.match(r"^\s*(- )?uses:", line) and not PINNED.match(line)]
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@") and \
                        (step.get("with") or {}).get("persist-credentials") is not False:
                    line = next(n for n, text in enumerate(lines, 1) if step["uses"] in text)
                    found.append(f"{path.name}:{line}: checkout without persist-credentials: false")
    return found


def test_the_workflows_pass_zizmor_with_no_finding():
    status, output = audit(WORKFLOWS)
    assert status == 0 and "No findings" in output and "suppressed" not in output, output


def test_each_action_is_pinned_and_checkout_keeps_no_credentials():
    assert list(WORKFLOWS.glob("*.y*ml")), "no workflow found"
    assert problems(WORKFLOWS) == []


def test_both_checks_fail_on_the_unpinned_workflow(tmp_path):
    workflows = tmp_path / ".github" / "workflows"  # zizmor audits a directory in this layout
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(UNPINNED)
    assert problems(workflows) == [
        "ci.yml:7: not pinned to a hash with '# vX': - uses: actions/checkout@v4",
        "ci.yml:8: not pinned to a hash with '# vX': - uses: actions/setup-python@v5",
        "ci.yml:7: checkout without persist-credentials: false"]
    status, output = audit(workflows)
    assert status != 0, output
    for finding in ("unpinned-uses", "artipacked", "excessive-permissions"):
        assert finding in output, output
