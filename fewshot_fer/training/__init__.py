"""Training: the typed recipes (``recipes``), the one training loop (``trainer``) and the small task
modules it runs (an episode, a classification batch, a self-training round), checkpoints, run
directories, several processes, and the supervised baselines."""
