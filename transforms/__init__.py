"""Pipeline stages: one module per stage, each usable without Beam where possible."""

from transforms.gcs import use_emulator_credentials

# Runs in the launcher and in every Beam worker that unpickles a clipindex stage,
# so no process waits on google.auth retries when a GCS emulator is configured.
use_emulator_credentials()
