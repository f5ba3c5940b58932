"""The example roster that ships with jiaoying, and the rule that keeps real providers off it.

The example county's persons are made up, but their mobile numbers are valid numbers
that may well be somebody's. It is the default roster, so that `jiaoying serve` runs with
no set-up in simulate mode; a deployment that configures a real provider and forgets
`JIAOYING_ROSTER_DIR` would call those numbers for real. `refuse_example_roster` stops it,
at start and at every roster reload.

What counts as the example roster, decided here:

- a roster read from inside a folder of examples that ships with jiaoying (the checkout's
  `examples/`, the installed package's `_examples/`), by resolved path, symlinks
  followed: the default, and `JIAOYING_ROSTER_DIR` pointing there;
- a roster with the example's content wherever it lies (the same `roster_digest`): a
  copied folder, or the example saved again in another format, is caught too.

A roster made from the example by editing it is a county's own, and is taken.
"""

from __future__ import annotations

import functools
from pathlib import Path

from dispatcher.core.canonical import roster_digest
from dispatcher.core.errors import InputError, RosterError
from dispatcher.core.roster import Roster
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import Settings, env_name, shipped_examples

__all__ = ["ExampleRosterRefused", "example_roster_kind", "refuse_example_roster"]

_ROSTER = "roster"


class ExampleRosterRefused(InputError):
    """A real provider is configured and the roster is the example one."""


def refuse_example_roster(
    settings: Settings, source: Path, roster: Roster, digest: str | None = None
) -> None:
    """Raise ExampleRosterRefused when any provider is real (`Settings.real_providers`)
    and `roster`, read from `source`, is the example roster; the message names the
    variable to set. `digest` is the roster's `roster_digest` when the caller has it."""
    providers = settings.real_providers
    if not providers:
        return
    kind = example_roster_kind(source, roster, digest)
    if kind is None:
        return
    variable = env_name("roster_dir")
    given = "roster_dir" in settings.model_fields_set
    where = f"{variable} ({source})" if given else f"{variable} is unset, so the roster"
    configured = " and ".join(providers) + (" is" if len(providers) == 1 else " are")
    raise ExampleRosterRefused(
        f"{where} is {kind} that ships with jiaoying: made-up persons with real-looking "
        f"mobile numbers, and {configured} configured: jiaoying would send to them for real. "
        f"Set {variable} to your own roster (check it with `jiaoying roster check`), or "
        "unset the provider credentials to try the example in simulate mode."
    )


def example_roster_kind(source: Path, roster: Roster, digest: str | None = None) -> str | None:
    """ "the example roster" when `source` lies in a shipped folder of examples, "a copy of
    the example roster" when `roster` has its content; None for any other roster."""
    resolved = source.expanduser().resolve()
    for folder in shipped_examples():
        if resolved.is_relative_to(folder.resolve()):
            return "the example roster"
    example = _example()
    if example is None:
        return None
    example_roster, example_digest = example
    # Counted first: a county's roster is never hashed for this unless it could match.
    same_size = (len(roster.persons), len(roster.grids)) == (
        len(example_roster.persons),
        len(example_roster.grids),
    )
    if same_size and (digest or roster_digest(roster)) == example_digest:
        return "a copy of the example roster"
    return None


@functools.cache
def _example() -> tuple[Roster, str] | None:
    """The example roster and its digest, read once from where it ships (None where an
    installation left it out)."""
    for folder in shipped_examples():
        try:
            roster = load_roster(folder / _ROSTER)
        except RosterError:
            continue
        return roster, roster_digest(roster)
    return None
