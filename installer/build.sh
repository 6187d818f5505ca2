#!/bin/sh
# Build the one-folder bundle installer/dist/limelight in a clean virtual environment and print
# its size and the build time.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=installer/build/venv
REQUIREMENTS="pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9"

# The app's dependencies from pyproject.toml. On Linux x86_64 TensorFlow comes as its CPU-only
# build, the same library without the CUDA kernels (about 350 MB) the app never runs.
write_requirements() {
    "$PYTHON" - "$(uname -s)-$(uname -m)" > installer/build/requirements.txt <<'PY'
import sys, tomllib

cpu_only = sys.argv[1] == "Linux-x86_64"
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    if cpu_only and requirement.startswith("tensorflow"):
        requirement = "tensorflow-cpu" + requirement[len("tensorflow"):]
    print(requirement)
PY
}

started=$(date +%s)
# The venv holds only the app's own dependencies, so PyInstaller collects nothing from the
# developer's .venv (pytest, lime...). It is rebuilt when the dependencies change.
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ] \
        || [ "$0" -nt "$VENV/.installed" ]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    write_requirements
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r installer/build/requirements.txt $REQUIREMENTS
    touch "$VENV/.installed"
fi
# Not editable: the bundle is built from the installed package, as a user would get it.
"$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall .
prepared=$(date +%s)

"$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath installer/dist --workpath installer/build/work installer/limelight.spec
# TensorFlow's libraries carry symbol tables (about 200 MB) that nothing reads at run time.
# Only these: stripping the auditwheel-patched libraries of numpy and scipy breaks them.
if [ "$(uname -s)" = Linux ] && command -v strip >/dev/null; then
    find installer/dist/limelight/_internal/tensorflow -name '*.so*' -type f \
        -exec strip --strip-unneeded {} +
fi
finished=$(date +%s)

size=$(du -sm installer/dist/limelight | cut -f1)
files=$(find installer/dist/limelight -type f | wc -l)
echo "bundle: installer/dist/limelight, ${size} MB in ${files} files"
echo "build time: $((finished - prepared)) s for PyInstaller, $((prepared - started)) s for the build venv"
