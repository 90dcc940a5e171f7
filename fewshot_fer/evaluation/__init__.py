"""Scoring on fixed episodes (per episode, from cached features, clip votes) and the charts of a run
and an evaluation."""
