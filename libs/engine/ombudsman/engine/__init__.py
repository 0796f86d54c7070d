"""The validation engine: connectors, dialect-aware SQL, normalisation, validators, row diff, pipelines.

Usable on its own (`ombudsman run pipeline.yaml`): no bus and no database of ours needed.
"""
