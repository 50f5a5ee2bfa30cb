"""Read-only lookups of the files analytics writes beside its results: reference profiles
and Evidently HTML reports.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> report_file(d, "../keys.json") is None, report_files(d), reference_path(d, "m", "1")
(True, [], None)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..reference import ReferenceProfile, ReferenceStore


def references(references: Path) -> list[tuple[str, str]]:
    """(model, version) of every reference profile under ``references``, sorted."""
    return sorted((p.parent.parent.name, p.parent.name)
                  for p in Path(references).glob("*/*/profile.json"))


def reference_path(references: Path, model: str, version: str) -> Path | None:
    """The profile file the analytics use for (model, version): that version's, else the
    model's newest; None if there is none (or the names are not valid)."""
    try:
        path = ReferenceStore(references).profile_path(model, version)
    except ValueError:
        return None
    if path.exists():
        return path
    found = sorted(path.parent.parent.glob("*/profile.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def load_reference(path: Path) -> ReferenceProfile:
    """A reference profile read from its JSON file."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return ReferenceProfile.from_dict(data)


def report_files(reports: Path) -> list[Path]:
    """Every Evidently HTML report directly in ``reports``, newest first."""
    if not reports.is_dir():
        return []
    return sorted(reports.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)


def report_file(reports: Path, name: str) -> Path | None:
    """The report called ``name`` directly inside ``reports`` (no other path), or None."""
    if not name or Path(name).name != name or not name.endswith(".html"):
        return None
    path = reports / name
    return path if path.is_file() else None


def model_reports(reports: Path, report_paths: Iterable[Any], model: str,
                  version: str) -> list[Path]:
    """A model version's reports: the verdicts' ``report_path`` values, else the files in
    ``reports`` named ``<model>_<version>_*.html``; only those that exist."""
    found = [Path(p) for p in dict.fromkeys(report_paths) if isinstance(p, str) and p]
    if not found and reports.is_dir():
        found = sorted(p for p in reports.glob("*.html")
                       if p.name.startswith(f"{model}_{version}_"))
    return [p for p in found if p.exists()]


def report_sidecar(report: Path) -> dict[str, Any]:
    """The JSON Evidently wrote beside ``report`` (``<name>.json``), or ``{}``."""
    try:
        doc = json.loads(Path(report).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def report_html(report: Path) -> str:
    """The HTML of a report file (undecodable bytes replaced)."""
    return Path(report).read_text(encoding="utf-8", errors="replace")
