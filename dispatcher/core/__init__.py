"""The pure core: warnings, rosters, areas, the policy and the per-recipient state
machine as frozen dataclasses and functions. No I/O, no clock, no asyncio: every
function takes `now` and returns decisions."""
