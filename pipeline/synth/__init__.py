"""`clipindex synth`: a corpus of real H.264 clips and its manifest, the same for the same seed.

corpus.py plans and writes the corpus; footage.py draws distinct pictures, remux.py encodes
and remuxes clips from shared segments, copies.py writes re-encoded copies and excerpts.
"""

from pipeline.synth.corpus import (
    Condition,
    Reencode,
    SynthProblem,
    Trim,
    excerpt_relpath_of,
    plan_corpus,
    reencoded_relpath,
    split_frames,
    synth,
)
from pipeline.synth.plan import ClipPlan

__all__ = [
    "ClipPlan",
    "Condition",
    "Reencode",
    "SynthProblem",
    "Trim",
    "excerpt_relpath_of",
    "plan_corpus",
    "reencoded_relpath",
    "split_frames",
    "synth",
]
