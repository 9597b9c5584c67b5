#!/usr/bin/env python
"""Install detectron2 v0.6's Python package without compiling its C++/CUDA extension.

detectron2 is not on PyPI under its own name. ``pb1-detectron2==0.6`` is an sdist
holding upstream v0.6's Python sources but not ``detectron2/layers/csrc``, so a
plain ``pip install`` of it fails while compiling. This script downloads that
sdist, and installs its ``detectron2`` package (with the model-zoo configs) as
the distribution ``detectron2==0.6`` from a minimal setup that builds nothing.
``troi.compat`` then provides a stand-in for the missing ``detectron2._C``.

A detectron2 that is already importable (e.g. built from source, with ``_C``) is
left untouched. Run with the interpreter of the target environment:

    .venv/bin/python tools/install_detectron2.py
"""

import argparse
import importlib.util
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST_REQUIREMENT = "pb1-detectron2==0.6"
EXPECTED_VERSION = "0.6"

# Our own minimal build description: package the sources, build no extension.
MINIMAL_SETUP = """
from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="{version}",
    description="detectron2 {version} Python sources (from {requirement}), without detectron2._C",
    packages=find_packages(include=["detectron2", "detectron2.*"]),
    package_data={{"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]}},
)
"""


def fail(message):
    sys.exit(f"install_detectron2: error: {message}")


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd)
    if result.returncode != 0:
        fail(f"command failed with exit code {result.returncode}: {' '.join(cmd)}")


def download_sdist(workdir: Path) -> Path:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-build-isolation",
            "--no-binary",
            ":all:",
            "-d",
            str(workdir),
            SDIST_REQUIREMENT,
        ]
    )
    archives = sorted(workdir.glob("*.tar.gz"))
    if len(archives) != 1:
        fail(f"expected one sdist archive in {workdir}, found {[a.name for a in archives]}")
    return archives[0]


def extract_sources(archive: Path, workdir: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    roots = [p for p in workdir.iterdir() if p.is_dir() and (p / "detectron2" / "__init__.py").exists()]
    if len(roots) != 1:
        fail(f"{archive.name} does not contain exactly one detectron2/ package")
    init_text = (roots[0] / "detectron2" / "__init__.py").read_text()
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", init_text)
    if not match or match.group(1) != EXPECTED_VERSION:
        found = match.group(1) if match else "none"
        fail(f"{archive.name}: expected detectron2 version {EXPECTED_VERSION}, found {found}")
    return roots[0]


def install_from(source_root: Path):
    build_root = source_root.parent / "detectron2-python-only"
    build_root.mkdir()
    (source_root / "detectron2").rename(build_root / "detectron2")
    (build_root / "setup.py").write_text(MINIMAL_SETUP.format(version=EXPECTED_VERSION, requirement=SDIST_REQUIREMENT))
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", str(build_root)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="install even if a detectron2 is already importable")
    args = parser.parse_args()
    if not args.force and importlib.util.find_spec("detectron2") is not None:
        print("install_detectron2: detectron2 is already importable; leaving it as is")
        return
    with tempfile.TemporaryDirectory(prefix="troi-d2-") as tmp:
        workdir = Path(tmp)
        archive = download_sdist(workdir)
        install_from(extract_sources(archive, workdir))
    if subprocess.run([sys.executable, "-c", "import detectron2"]).returncode != 0:
        fail("detectron2 was installed but cannot be imported")
    print(f"install_detectron2: installed detectron2 {EXPECTED_VERSION} (Python sources only)")


if __name__ == "__main__":
    main()
