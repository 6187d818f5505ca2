"""Run every benchmark module in one process and print their markdown tables."""
import importlib
import os
import pkgutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(selected: list[str]) -> None:
    package = "tests.benchmarks"
    names = sorted(m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
                   if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    for name in names:
        module = importlib.import_module(f"{package}.{name}")
        print(module.table(), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
