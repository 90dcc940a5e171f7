"""The commands: thin shells that parse flags (generated from the typed recipes), call the
library and print. ``fewshot-fer <name>`` and ``python -m fewshot_fer.<name>`` run them; nothing
in the library imports this package."""
