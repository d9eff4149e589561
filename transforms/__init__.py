"""Pipeline stages: one module per stage, each usable without Beam where possible."""
