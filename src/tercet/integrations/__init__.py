"""Framework integrations: per-sample metrics from the training loops users already have.

- :mod:`tercet.integrations.huggingface` — a ``TrainerCallback`` for the Hugging Face Trainer;
- :mod:`tercet.integrations.lightning` — a PyTorch Lightning ``Callback``;
- :mod:`tercet.integrations.hooks` — the framework-free part both use, for wiring any other loop
  (Ultralytics, detectron2 … see ``docs/integrations.md``).

Each module imports its framework when it is imported itself; ``import tercet`` never does.
"""
