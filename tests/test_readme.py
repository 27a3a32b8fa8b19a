"""README.md's commands stay true: CI runs the test command it gives, and the
demo it gives writes a store that reads back."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"^    (python3 -m venv .*)$", (REPO / "README.md").read_text(), re.MULTILINE)


def test_ci_runs_the_readme_test_command():
    demo, tests = readme_commands()
    assert "pytest" in tests and "demo" in demo
    assert tests in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_demo_runs(tmp_path):
    demo = readme_commands()[0]
    args = demo.split(".venv/bin/treeship-store ")[1].split()
    assert args[0] == "demo"
    result = subprocess.run([sys.executable, "-m", "treeship_store", "demo", str(tmp_path / "demo")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ssn_0c1d2e3f4a5b6c7d  3       1" in result.stdout and "verify" in result.stdout


def test_tests_the_docs_cite_exist():
    # file.py::test_name, or dir/file.py::Class::test_name for a suite's method (contract/).
    cited = set(re.findall(r"((?:\w+/)*test_\w+\.py|(?:\w+/)+\w+\.py)::(?:([A-Z]\w*)::)?(test_\w+)",
                           (REPO / "docs" / "reliability.md").read_text()))
    assert len(cited) > 10 and any(cls for _, cls, _ in cited)
    missing = []
    for file, cls, name in cited:
        pattern = rf"^class {cls}\b.*?^    def {name}\(" if cls else rf"^def {name}\("
        if not re.search(pattern, (REPO / "tests" / file).read_text(), re.MULTILINE | re.DOTALL):
            missing.append(f"{file}::{cls}::{name}" if cls else f"{file}::{name}")
    assert missing == []


def test_readme_hooks_install_command_runs(tmp_path):
    line = next(line for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("    .venv/bin/pip install . && .venv/bin/treeship-store hooks install"))
    args = line.split(".venv/bin/treeship-store ", 1)[1].split()
    assert args[:3] == ["hooks", "install", "claude-code"] and args[3] == "--project"
    result = subprocess.run([sys.executable, "-m", "treeship_store", *args[:4], str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "hook claude-code" in (tmp_path / ".claude" / "settings.json").read_text()
