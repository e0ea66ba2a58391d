"""The GitHub workflows pass zizmor's offline audit with no finding, suppressed ones included,
and pin each action to a commit hash with its tag beside it. docs.yml builds the site with -W on
every push and pull request and deploys main's build with the three Pages actions, its deploy
job alone able to write to Pages; ci.yml puts a browser where tests/test_browser.py looks before
the tests, and fails when the browser tests skipped."""
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
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


# docs.yml and ci.yml's browser, read from their YAML

PAGES_ACTIONS = ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages")


def load(path):
    """The workflow as a dict, its triggers under "on" (YAML 1.1 reads the key `on` as True)."""
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def events(workflow):
    """Each trigger's name and its settings (None for a bare name)."""
    on = workflow.get("on") or {}
    if isinstance(on, str):
        return {on: None}
    return dict.fromkeys(on) if isinstance(on, list) else dict(on)


def steps(workflow):
    """(job name, job, step) for every step of every job."""
    return [(name, job, step) for name, job in workflow["jobs"].items()
            for step in job.get("steps", [])]


def on_main_only(condition):
    """Whether an `if:` runs only for a push to main."""
    text = " ".join(str(condition or "").split())
    return "github.event_name == 'push'" in text and "github.ref == 'refs/heads/main'" in text \
        and "||" not in text


def writes(permissions):
    return sorted(scope for scope, level in (permissions or {}).items() if level == "write") \
        if isinstance(permissions, dict) else [f"permissions: {permissions}"]


def docs_problems(workflow):
    """What keeps docs.yml from building on every push with -W and deploying main's build alone."""
    found = []
    triggers = events(workflow)
    for event in ("push", "pull_request"):
        if event not in triggers:
            found.append(f"does not run on {event}")
    if any(key in (triggers.get("push") or {}) for key in ("branches", "branches-ignore",
                                                           "paths", "paths-ignore", "tags")):
        found.append("does not run on every push")
    builds = [(name, job, step) for name, job, step in steps(workflow)
              if re.search(r"\bsphinx(-build|\s)", step.get("run", ""))]
    strict = [(name, job, step) for name, job, step in builds
              if re.search(r"(^|\s)-W(\s|$)", step["run"])]
    if not strict:
        found.append("no sphinx build with -W")
    for name, job, step in strict:
        if job.get("if") or step.get("if"):
            found.append(f"job {name}: the build runs only under a condition")
    outputs = {run.split()[-1] for _, _, step in strict for run in [step["run"]]}
    for action in PAGES_ACTIONS:
        using = [(name, job, step) for name, job, step in steps(workflow)
                 if step.get("uses", "").split("@")[0] == action]
        if not using:
            found.append(f"does not use {action}")
        for name, job, step in using:
            if not (on_main_only(job.get("if")) or on_main_only(step.get("if"))):
                found.append(f"job {name}: {action} runs for more than a push to main")
            if action.endswith("upload-pages-artifact") and \
                    (step.get("with") or {}).get("path") not in outputs:
                found.append(f"job {name}: uploads {(step.get('with') or {}).get('path')}, "
                             f"not the build's output {sorted(outputs)}")
    deployers = {name for name, _, step in steps(workflow)
                 if step.get("uses", "").startswith("actions/deploy-pages@")}
    if writes(workflow.get("permissions")) or workflow.get("permissions") is None:
        found.append("the workflow's own permissions are not empty")
    for name, job in workflow["jobs"].items():
        expected = ["id-token", "pages"] if name in deployers else []
        if writes(job.get("permissions")) != expected or job.get("permissions") is None:
            found.append(f"job {name} writes {writes(job.get('permissions'))}, not {expected}")
        if name in deployers and (job.get("environment") or {}).get("name") != "github-pages":
            found.append(f"job {name}: not in the github-pages environment")
    return found


def chromium_path():
    """The browser tests/test_browser.py launches (its CHROMIUM)."""
    source = (ROOT / "tests" / "test_browser.py").read_text()
    found = re.search(r'^CHROMIUM = .*?"(/[^"]+)"', source, re.MULTILINE)
    assert found, "tests/test_browser.py no longer names its browser as CHROMIUM = ...\"/path\""
    return found.group(1)


def browser_problems(workflow, chromium):
    """Each job that runs pytest without first putting a browser at `chromium`, or without
    failing when the browser tests skipped."""
    found = []
    for name, job in workflow["jobs"].items():
        runs = [step.get("run", "") for step in job.get("steps", [])]
        tests = [n for n, run in enumerate(runs) if re.search(r"\bpytest\b", run)
                 and "<<" not in run]
        if not tests:
            continue
        browser = [n for n, run in enumerate(runs[:tests[0]])
                   if (re.search(r"playwright install\b.*\bchromium\b", run)
                       and re.search(rf"ln -s\w*\s.*\s{re.escape(chromium)}\b", run))
                   or (re.search(r"apt(-get)? install\b.*\bchromium\b", run)
                       and chromium == "/usr/bin/chromium")]
        if not browser:
            found.append(f"job {name}: no step puts a browser at {chromium} before the tests")
        if not any("test_browser" in run and "skipped" in run for run in runs[tests[0]:]):
            found.append(f"job {name}: nothing fails the job when the browser tests skipped")
    return found


def test_docs_workflow_builds_with_W_everywhere_and_deploys_main_alone():
    assert (WORKFLOWS / "docs.yml").exists(), "no .github/workflows/docs.yml"
    assert docs_problems(load(WORKFLOWS / "docs.yml")) == []


def test_the_docs_checks_fail_on_broken_workflows():
    good = load(WORKFLOWS / "docs.yml")
    build = next(name for name, job, step in steps(good) if "sphinx" in step.get("run", ""))
    deploy = next(name for name, job, step in steps(good)
                  if "deploy-pages" in step.get("uses", ""))

    def broken(change):
        """docs_problems of a copy that change(workflow, build job, deploy job) broke."""
        workflow = copy.deepcopy(good)
        change(workflow, workflow["jobs"][build], workflow["jobs"][deploy])
        return docs_problems(workflow)

    def without_w(workflow, build, deploy):
        for step in build["steps"]:
            step["run"] = step.get("run", "").replace(" -W", "")
    assert "no sphinx build with -W" in broken(without_w)
    assert any("runs for more than a push to main" in problem
               for problem in broken(lambda w, build, deploy: deploy.pop("if")))
    assert any("writes ['pages']" in problem for problem in broken(
        lambda w, build, deploy: build.update(permissions={"contents": "read", "pages": "write"})))
    assert any("does not use actions/configure-pages" in problem for problem in broken(
        lambda w, build, deploy: deploy.update(steps=[step for step in deploy["steps"]
                                                      if "configure-pages" not in step["uses"]])))
    assert "does not run on pull_request" in broken(
        lambda w, build, deploy: w.update(on={"push": {"branches": ["main"]}}))
    assert "does not run on every push" in broken(
        lambda w, build, deploy: w.update(on={"push": {"branches": ["main"]}}))


def test_ci_puts_a_browser_where_the_browser_tests_look_before_the_tests():
    assert browser_problems(load(WORKFLOWS / "ci.yml"), chromium_path()) == []


def test_the_browser_check_fails_without_a_browser_or_with_it_after_the_tests():
    good, chromium = load(WORKFLOWS / "ci.yml"), chromium_path()
    for name, job in good["jobs"].items():
        workflow = copy.deepcopy(good)
        workflow["jobs"][name]["steps"] = [step for step in job["steps"]
                                           if "playwright install" not in step.get("run", "")]
        assert f"job {name}: no step puts a browser at {chromium} before the tests" \
            in browser_problems(workflow, chromium)
        workflow = copy.deepcopy(good)
        browser = next(step for step in job["steps"]
                       if "playwright install" in step.get("run", ""))
        workflow["jobs"][name]["steps"] = [step for step in job["steps"] if step != browser]
        workflow["jobs"][name]["steps"].append(browser)  # after the tests: too late
        assert any("no step puts a browser" in problem
                   for problem in browser_problems(workflow, chromium))


def test_ci_fails_when_the_browser_tests_skipped(tmp_path):
    """ci.yml's check of pytest's JUnit report, run on a report where they ran and one where
    they skipped (as they would with no browser at /usr/bin/chromium)."""
    check = next(step["run"] for _, _, step in steps(load(WORKFLOWS / "ci.yml"))
                 if "test_browser" in step.get("run", "") and "skipped" in step["run"])
    script = re.search(r"<<'EOF'\n(.*?)^EOF$", check, re.DOTALL | re.MULTILINE).group(1)
    case = '<testcase classname="tests.test_browser" name="test_pad">{}</testcase>'
    for body, passes in (("", True), ('<skipped message="no /usr/bin/chromium"/>', False)):
        (tmp_path / "pytest.xml").write_text(
            '<testsuites><testsuite name="pytest"><testcase classname="tests.test_cli" '
            f'name="test_train"/>{case.format(body)}</testsuite></testsuites>')
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=False,
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode == 0) == passes, result.stdout + result.stderr
