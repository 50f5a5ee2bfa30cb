"""README opens with exactly the two set-up commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_readme_opens_with_demo_then_test_command() -> None:
    first, second = readme_commands()[:2]
    assert first.strip().endswith("edgedrift demo")
    steps = [s.strip() for s in second.split("&&")]
    assert steps[1:] == ["ruff check .", "mypy", "python -m pytest -q"], steps   # lint, types


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    second = readme_commands()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in ci, f"{second!r} must be a line of .ci/run"
