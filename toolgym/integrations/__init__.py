"""Adapters to other RL stacks, one module each; none is imported by ``import toolgym``.

* :mod:`toolgym.integrations.verl`: training rows in verl's dataset convention (``toolgym
  export``) and verl's ``custom_reward_function`` (``compute_score``), FTRL's own stack;
* :mod:`toolgym.integrations.verifiers`: ``load_environment`` for verifiers (``vf-eval``,
  prime-rl); needs ``pip install -e .[verifiers]``;
* :mod:`toolgym.integrations.openenv`: ToolGym envs served through OpenEnv (``toolgym serve``)
  and the client TRL trains with; needs ``pip install -e .[openenv]``.

Each imports its optional dependency inside, so the core stays light.
"""
