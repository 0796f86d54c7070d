"""The `ombudsman` command line and the typed Python SDK over the gateway's REST API."""
