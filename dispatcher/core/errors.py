"""Typed errors for bad input. Each one says what is wrong and where, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence


class InputError(Exception):
    """Base class of every rejection of operator- or producer-supplied input."""


class InvalidWarning(InputError):
    """A warning that cannot be accepted.

    `path` names the element (`alert/info[1]/area[0]/polygon`) or JSON pointer-like path
    (`infos[0].areas[0].polygons[0]`) where the problem is; `reason` says what is wrong.
    A document with several problems is refused with all of them: `problems` lists each
    (`of` builds such a refusal), and `reason` and `path` then say how many and where the
    first is.
    """

    def __init__(
        self, reason: str, path: str = "", *, problems: tuple[InvalidWarning, ...] = ()
    ) -> None:
        self.reason = reason
        self.path = path
        self.problems = problems or (self,)
        # Several problems: the reason lists each with its own path already.
        super().__init__(f"{path}: {reason}" if path and not problems else reason)

    @classmethod
    def of(cls, problems: Sequence[InvalidWarning]) -> InvalidWarning:
        """One refusal carrying every problem found (the problem itself when it is alone)."""
        if len(problems) == 1:
            return problems[0]
        listed = "\n".join(str(problem) for problem in problems)
        # Sound but not to be dispatched only when every problem is of that kind.
        sound = all(isinstance(problem, NotDispatchable) for problem in problems)
        kind = NotDispatchable if sound else InvalidWarning
        return kind(
            f"{len(problems)} problems:\n{listed}", problems[0].path, problems=tuple(problems)
        )


class NotDispatchable(InvalidWarning):
    """A sound document that jiaoying cannot act on: an Ack, no level and no policy
    default, no area that can be matched, nobody to warn. A preview shows the warning
    and these reasons; ingest refuses it with them, like a defect."""


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


class TemplateError(InputError):
    """Message templates that cannot be used; `problems` lists each as `file: reason`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(problems)} template problem(s):\n" + "\n".join(problems))
