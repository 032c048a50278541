"""Packaging for tinygrad_img.

The top-level ``kernels/`` folder is installed as ``tinygrad_img.kernels``
(with its CUDA sources as package data) so an installed copy and an editable
checkout import the same module names.
"""
from setuptools import find_packages, setup

setup(
    name="tinygrad_img",
    version="0.1.0",
    description="A small from-scratch deep-learning engine for image models (NumPy/Numba CPU, CuPy/CUDA GPU)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # every subpackage of tinygrad_img (so a new one cannot be left out of the wheel) + the kernels
    packages=find_packages(include=["tinygrad_img", "tinygrad_img.*"]) + ["tinygrad_img.kernels"],
    package_dir={"tinygrad_img.kernels": "kernels"},
    package_data={"tinygrad_img.data": ["*.npz"], "tinygrad_img.kernels": ["cuda/*.cu"]},
    install_requires=[
        "numpy>=2.0",
        "numba>=0.60",
        "scipy>=1.11",        # erf for GELU, ndimage for augmentation
        "safetensors>=0.4",   # checkpoints without pickle
        "tqdm>=4.60",         # training progress bars
        "matplotlib>=3.7",    # training curves, confusion matrices, benchmark charts
    ],
    extras_require={
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=13"],
        "test": ["pytest>=7", "hypothesis>=6"],
        "dev": ["pytest>=7", "hypothesis>=6", "ruff"],
    },
    entry_points={"console_scripts": ["tinygrad-img=tinygrad_img.cli:main"]},
)
