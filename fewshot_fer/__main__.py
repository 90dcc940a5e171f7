"""``python -m fewshot_fer`` lists the commands."""

print("fewshot-fer commands (each has --help):\n"
      "  python -m fewshot_fer.pretrain     supervised pre-training, scored as nearest centroid (SimpleShot)\n"
      "  python -m fewshot_fer.train        train a few-shot learner on episodes\n"
      "  python -m fewshot_fer.evaluate     score a checkpoint on fixed episodes (mean +- 95% CI, plots)\n"
      "  python -m fewshot_fer.predict      recognise expressions in your photos and clips from a support folder\n"
      "  python -m fewshot_fer.selftrain    the self-training CNN baseline (MC-dropout pseudo-labels)\n"
      "  python -m fewshot_fer.ensemble     soft voting over trained classifiers\n"
      "  python -m fewshot_fer.data check   count and check a dataset folder")
