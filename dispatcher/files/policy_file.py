"""Reading the policy file (YAML); the core's `parse_policy` says what it must hold."""

from __future__ import annotations

from pathlib import Path

from dispatcher.core.errors import PolicyError
from dispatcher.core.policy import Policy, parse_policy

__all__ = ["load_policy"]


def load_policy(path: Path) -> Policy:
    """Read and parse a policy file; raises PolicyError (also for an unreadable file)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read ({exc.strerror})"]) from None
    return parse_policy(text, source=str(path))
