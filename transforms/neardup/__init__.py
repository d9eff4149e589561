"""Near-duplicate footage: series of perceptual hashes, candidate buckets, alignment,
planning and applying matches. Pure functions; the Beam stage is transforms.beam.match_footage."""
