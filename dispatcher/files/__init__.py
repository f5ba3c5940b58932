"""Reading the operator's files: the roster's CSV tables and the policy YAML. The I/O
half only: what the files mean is checked by the core."""
