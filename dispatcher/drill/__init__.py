"""Drills (演练): the real service on a compressed clock against simulated people and providers."""
