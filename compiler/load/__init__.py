"""Reading config files: YAML with a source span for every key and value."""
