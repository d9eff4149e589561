"""clipindex's stages, grouped by where the code runs (docs/architecture.md).

clip/ (one clip in a reader process), isolation/ (the reader pool), storage/, manifest/,
launcher/, neardup/, reconcile/, and beam/ (the only package importing apache_beam at module
level); faults.py holds every test hook. Importing this package has no side effects.
"""
