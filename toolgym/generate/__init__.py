"""Procedural, seeded environment generation, in the five stages of the paper (no LLM).

``world`` and ``domains`` hold the seeded knowledge base; ``decomposition``, ``documents``,
``integration``, ``scaling`` and ``deployment`` are the stages; ``pipeline`` runs them.

Example:
    >>> from toolgym.generate import GenerateConfig, generate_suite
    >>> suite = generate_suite(2, seed=0, config=GenerateConfig(shapes=("multi_hop",)))
    >>> [s.id for s in suite]
    ['gen-0-0', 'gen-0-1']
"""

from toolgym.generate.pipeline import GenerateConfig, build_scenario, generate_suite, iter_suite

__all__ = ["GenerateConfig", "build_scenario", "generate_suite", "iter_suite"]
