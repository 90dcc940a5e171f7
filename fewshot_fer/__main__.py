"""``python -m fewshot_fer`` lists the commands."""

print("fewshot-fer commands (each has --help):\n"
      "  python -m fewshot_fer.train        train a few-shot learner on episodes\n"
      "  python -m fewshot_fer.data check   count and check a dataset folder")
