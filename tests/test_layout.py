"""The engine stays headless (no Qt), and every core module has its place in the layers."""
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
QT_MODULES = {"PySide6", "PyQt5", "PyQt6", "qtpy", "shiboken6"}


def test_every_core_module_sits_in_a_layer():
    """lint-imports (make test) checks the layers in pyproject.toml; a module in none would escape them."""
    import tomllib

    config = tomllib.loads((CORE.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    placed = {name.strip().removeprefix("limelight.core.")
              for contract in config["contracts"] if contract["type"] == "layers"
              for layer in contract["layers"] for name in layer.split("|")}
    modules = {p.stem for p in CORE.glob("*.py") if p.stem != "__init__"}
    assert modules - placed == set()


def test_importing_every_core_module_loads_no_qt():
    import subprocess
    import sys

    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    script = ("import sys\n" + "".join(f"import limelight.core.{m}\n" for m in modules)
              + "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % QT_MODULES)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
