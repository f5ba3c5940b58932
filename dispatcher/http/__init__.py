"""The HTTP surface: ingest, health, and (in their own modules) status API and callbacks."""
