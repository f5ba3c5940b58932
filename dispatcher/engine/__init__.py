"""The engine: ingest, the scheduler, the sender and the answer paths, applying the
core's decisions with the store and the channels."""
