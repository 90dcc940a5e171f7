"""``python -m fewshot_fer`` lists the commands."""

print("fewshot-fer commands:\n"
      "  python -m fewshot_fer.train     train a few-shot learner on episodes (--help for flags)")
