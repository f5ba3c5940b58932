"""The process: settings, logs, metrics and memory."""
