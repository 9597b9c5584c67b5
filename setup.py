#!/usr/bin/env python
"""TRoI for Detectron2: Temporal RoI Align and SELSA for video object detection and
video instance segmentation. Install into an environment that already has torch,
torchvision and detectron2 (README "Installation", or tools/setup_env.sh)."""

from setuptools import find_packages, setup

setup(
    name="troi-detectron2",
    version="0.1.0",
    description="Temporal RoI Align (AAAI 2021) and SELSA (ICCV 2019) for detectron2",
    packages=find_packages(include=["troi", "troi.*"]),
    python_requires=">=3.9",
    # torch, torchvision and detectron2 are installed explicitly (see README):
    # the registry has no CPU torchvision and no installable detectron2 wheel.
    install_requires=["numpy", "pycocotools", "scipy", "opencv-python-headless", "tqdm"],
)
