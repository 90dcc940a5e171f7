"""A trained model as a whole: built from its recorded settings (``build``), loaded from a checkpoint,
or read from an exported folder (``exported``). Never imports training."""
