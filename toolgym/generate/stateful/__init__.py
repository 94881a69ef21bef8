"""Stateful worlds built from a seed: databases, write tools with policies, goals scored by the final state.

Four domains (:mod:`.shop`, :mod:`.library`, :mod:`.travel`, :mod:`.subscriptions`), one module
each, on shared parts (:mod:`.base`); :mod:`.builder` draws scenarios, :mod:`.export` writes them
as FTRL's stateful rows and domain folders, :mod:`.env` is the env behind ``ToolGym/Stateful-v0``.

Example:
    >>> from toolgym.generate.stateful import StatefulConfig, generate_stateful_suite
    >>> [s.meta["domain"] for s in generate_stateful_suite(2, seed=0, config=StatefulConfig(domains=("travel",)))]
    ['travel', 'travel']
"""

from toolgym.generate.stateful.builder import (
    DOMAINS,
    STATEFUL_SHAPES,
    STRICTNESS,
    StatefulConfig,
    build_stateful_scenario,
    generate_stateful_suite,
)
from toolgym.generate.stateful.export import export_stateful_suite

__all__ = ["DOMAINS", "STATEFUL_SHAPES", "STRICTNESS", "StatefulConfig", "build_stateful_scenario",
           "export_stateful_suite", "generate_stateful_suite"]
