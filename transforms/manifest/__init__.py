"""Manifests and exports: reading them, their columns, values and times (used by
`index --manifest` and by reconcile)."""
