"""clipindex: high-throughput video ingest and indexing with Apache Beam and PyAV.

Also the worker setup file for remote runners: pass `--setup_file ./setup.py`
to Dataflow and the workers install the same three packages.
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _readme() -> str:
    # Relative to this file, not the working directory: Beam runs `setup.py sdist` from
    # here, but workers and tools may build it from elsewhere.
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
        return handle.read()


setup(
    name="clipindex",
    version="0.1.0",
    description="Index and reconcile large video corpora into Parquet with Apache Beam and PyAV",
    long_description=_readme(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # Every subpackage (transforms/clip/mp4, ...): remote workers install this list.
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*", "schemas", "schemas.*"]),
    install_requires=[
        "apache-beam[gcp]>=2.61,<3",
        "av>=17.1,<19",
        "opencv-python-headless>=4.10.0.84,<6",
        "pyarrow>=16,<26",
        "numpy>=2.0,<3",
        "google-cloud-storage>=2.10,<4",
    ],
    extras_require={
        # What the README's quick tour queries the tables with (run_local.sh installs it).
        "query": ["duckdb>=1.0", "deltalake>=1.1,<2"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.2",
            "duckdb>=1.0",
            "deltalake>=1.1,<2",
            "polars>=1.0,<2",
            "gcp-storage-emulator>=2026.7",  # older releases answer a copy (Beam's rename) with 404
            "ruff>=0.5",
            "import-linter>=2.1",
        ],
    },
    entry_points={"console_scripts": ["clipindex=pipeline.cli:main"]},
)
