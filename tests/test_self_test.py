"""`limelight --self-test`: passes on a working install, and fails in one line that names the step."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def limelight_command() -> list[str]:
    """The `limelight` console script of the running environment, as a user runs it."""
    script = shutil.which("limelight", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "limelight.gui.launcher"]


def run_limelight(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*limelight_command(), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.mark.slow
def test_self_test_passes_prints_one_line_and_leaves_no_files(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = run_limelight("--self-test", env={
        "TMPDIR": str(temporary), "LIMELIGHT_CACHE_DIR": str(tmp_path / "cache"),
        # A desktop session must not matter: the self-test always runs offscreen.
        "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":404"})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("limelight self-test passed in ")
    assert "says Egyptian cat" in lines[0] and "chelsea.jpg" in lines[0]
    assert "Traceback" not in result.stderr
    # The annotated PNGs went to a temporary folder that is gone again.
    assert list(temporary.iterdir()) == []
    # The built-in model was built from the shipped weights and cached where the app caches it.
    assert list((tmp_path / "cache" / "models").glob("efficientnet_lite0-*.keras"))


@pytest.mark.slow
def test_a_failing_step_exits_1_with_one_line_naming_it(tmp_path):
    # A cache location that is a file: the built-in model cannot be cached there.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_limelight("--self-test", env={"LIMELIGHT_CACHE_DIR": str(blocker)})

    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr.strip().splitlines()
    assert len(message) == 1
    assert message[0].startswith("limelight self-test failed: loading the built-in model: ")
    assert str(blocker) in message[0]


def test_self_test_takes_no_images_or_model():
    result = run_limelight("--self-test", "photo.jpg", timeout=60)

    assert result.returncode == 2
    assert "--self-test checks the built-in model on a bundled photo; it takes no images" in result.stderr
