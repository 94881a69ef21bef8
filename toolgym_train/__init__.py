"""TRL-based training of Hugging Face causal LMs in ToolGym environments.

Submodules import torch, transformers and TRL; this package's ``__init__`` imports none of them, so
``toolgym-train --help`` stays fast. Start with :mod:`toolgym_train.cli` or :func:`toolgym_train.train.run`.
"""

__all__: list[str] = []
