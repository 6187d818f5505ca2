"""The engine stays headless: nothing under core/ may import Qt."""
import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
QT_MODULES = {"PySide6", "PyQt5", "PyQt6", "qtpy", "shiboken6"}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_never_imports_qt():
    offenders = {p.name: imported_roots(p.read_text()) & QT_MODULES for p in CORE.rglob("*.py")}
    assert {name: qt for name, qt in offenders.items() if qt} == {}


def test_the_qt_check_catches_a_qt_import():
    assert imported_roots("from PySide6.QtWidgets import QWidget\n") & QT_MODULES == {"PySide6"}


def test_importing_every_core_module_loads_no_qt():
    import subprocess
    import sys

    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    script = ("import sys\n" + "".join(f"import limelight.core.{m}\n" for m in modules)
              + "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % QT_MODULES)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
