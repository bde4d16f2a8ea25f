"""The `intake` commands that belong to no single stage (they compose several through worker.wiring); the
root group in worker/cli.py loads each one only when it is run."""
