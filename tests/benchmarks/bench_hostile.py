"""What the hostile-input gates cost: refusing a declared billion-unit head, the parameter check on a real
model, and inspecting a large weights member in place."""
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Each case runs in its own process, so its peak memory (VmHWM) is its own.
SETUP = """
import json, os, sys, time, zipfile
from pathlib import Path
import keras
import limelight.core.files as files
import limelight.core.models as models
from limelight.core.errors import ModelError
work = Path(sys.argv[1])

def memory(key):
    return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith(key))
"""

HUGE_HEAD = SETUP + """
models.load_model(work / "small.keras")  # TensorFlow and Keras imported and warm
rss, peak = memory("VmRSS"), memory("VmHWM")
start = time.perf_counter()
try:
    models.load_model(work / "huge_head.keras")
except ModelError:
    pass
print(json.dumps([time.perf_counter() - start, memory("VmRSS") - rss, memory("VmHWM") - peak]))
"""

PARAMETER_CHECK = SETUP + """
def best_load():
    times = []
    for _ in range(3):
        start = time.perf_counter()
        models.load_model(work / "b0.keras")
        times.append(time.perf_counter() - start)
    return min(times)

best_load()  # warm
with_check = best_load()
check = models.check_model_size
models.check_model_size = lambda *args, **kwargs: None
without = best_load()
text = zipfile.ZipFile(work / "b0.keras").read("config.json")
alone = []
for _ in range(3):
    start = time.perf_counter()
    check(json.loads(text), path="b0.keras")  # fresh, as each load parses it
    alone.append(time.perf_counter() - start)
print(json.dumps([with_check, without, min(alone)]))
"""

MEMBER = SETUP + """
import h5py  # imported before measuring, as in the app
models._keras_load = lambda path, trust: None  # only Limelight's checks, not Keras' own load
models._check_declared_size = lambda *args, **kwargs: None
peak = memory("VmHWM")
start = time.perf_counter()
models._load_keras_file(work / sys.argv[2], False)
print(json.dumps([time.perf_counter() - start, memory("VmHWM") - peak]))
"""


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _make_files(work: Path) -> float:
    import keras

    inputs = keras.Input((16, 16, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(features)).save(
        work / "small.keras")
    with zipfile.ZipFile(work / "small.keras") as source, zipfile.ZipFile(work / "huge_head.keras", "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                head = next(layer for layer in config["config"]["layers"]
                            if layer["config"]["name"] == "predictions")
                head["config"]["units"] = 10**9
                data = json.dumps(config).encode()
            copy.writestr(info, data)
    keras.applications.EfficientNetB0(weights=None).save(work / "b0.keras")
    inputs = keras.Input((4096,))
    keras.Model(inputs, keras.layers.Dense(5860, activation="softmax")(inputs)).save(work / "big.keras")
    with zipfile.ZipFile(work / "big.keras") as source, \
            zipfile.ZipFile(work / "big_deflated.keras", "w", zipfile.ZIP_DEFLATED) as copy:
        for info in source.infolist():
            copy.writestr(info.filename, source.read(info))
    return zipfile.ZipFile(work / "big.keras").getinfo("model.weights.h5").file_size / 1024**2


def table() -> str:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        member_mb = _make_files(work)
        seconds, rss, peak = _run(HUGE_HEAD, work)
        with_check, without, alone = _run(PARAMETER_CHECK, work)
        stored = _run(MEMBER, work, "big.keras")
        deflated = _run(MEMBER, work, "big_deflated.keras")
    return "\n".join([
        "### Hostile-input gates",
        "| case | time | memory |",
        "|---|---|---|",
        f"| refuse a .keras declaring a Dense(10**9) head (5e9 parameters) | {seconds:.3f} s | "
        f"RSS +{rss:.0f} MB, peak +{peak:.0f} MB |",
        f"| load EfficientNetB0 (weights=None), with / without the parameter check (best of 3) | "
        f"{with_check:.2f} s / {without:.2f} s | |",
        f"| the parameter check alone on EfficientNetB0 (best of 3) | {alone:.2f} s | |",
        f"| inspect a {member_mb:.0f} MB weights member, stored | {stored[0]:.2f} s | peak +{stored[1]:.0f} MB |",
        f"| inspect a {member_mb:.0f} MB weights member, deflated | {deflated[0]:.2f} s | peak +{deflated[1]:.0f} MB |",
    ])


if __name__ == "__main__":
    print(table())
