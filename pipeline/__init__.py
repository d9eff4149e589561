"""clipindex: index and reconcile large video corpora with Apache Beam and PyAV."""

__version__ = "0.1.0"
