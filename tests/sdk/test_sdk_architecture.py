"""Architecture guard: edge_sdk imports only the standard library, msgpack and itself."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "edge_sdk"
ALLOWED_THIRD_PARTY = {"msgpack"}
SERVER_SIDE = ("collector", "analytics", "dashboard", "edgedrift", "pyarrow", "duckdb", "numpy",
               "kafka", "scipy", "pandas", "evidently", "streamlit", "starlette", "uvicorn",
               "httpx")


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:          # relative: edge_sdk itself
                continue
            roots.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            arg = node.args[0] if node.args else None
            roots.add(arg.value.split(".")[0] if isinstance(arg, ast.Constant) else "<dynamic>")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            roots.add("<dynamic import_module>")
    return roots


def sdk_files() -> list[Path]:
    files = sorted(SDK.rglob("*.py"))
    assert files, "edge_sdk not found"
    return files


@pytest.mark.parametrize("path", sdk_files(), ids=lambda p: p.name)
def test_sdk_imports_only_stdlib_and_msgpack(path):
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"edge_sdk", "__future__"}
    bad = imported_roots(path) - allowed
    assert not bad, f"{path.name} imports {sorted(bad)}: the SDK may use only stdlib + msgpack"


def test_guard_can_fail(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy\nfrom collector import x\nimport json\nfrom . import y\n")
    assert imported_roots(probe) == {"numpy", "collector", "json"}


def test_importing_the_sdk_pulls_in_no_server_package():
    code = ("import sys, json; import edge_sdk; from edge_sdk import Monitor; "
            "import edge_sdk.wire, edge_sdk.sender, edge_sdk.spool; "
            "print(json.dumps(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {SERVER_SIDE!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(SDK.parent))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
