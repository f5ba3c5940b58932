"""Typed errors for bad input. Each one says what is wrong and where, never a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Base class of every rejection of operator- or producer-supplied input."""


class InvalidWarning(InputError):
    """A warning that cannot be accepted.

    `path` names the element (`alert/info[1]/area[0]/polygon`) or JSON pointer-like path
    (`infos[0].areas[0].polygons[0]`) where the problem is; `reason` says what is wrong.
    """

    def __init__(self, reason: str, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class RosterError(InputError):
    """A roster that cannot be loaded; `problems` lists every bad row as `file:line: reason`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"roster has {len(problems)} problem(s):\n" + "\n".join(problems))


class PolicyError(InputError):
    """A policy file that cannot be loaded; `problems` lists every error with its location."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"policy has {len(problems)} problem(s):\n" + "\n".join(problems))
