"""Supervised baselines: classifier training, MC-dropout pseudo-labelling, ensembles."""
