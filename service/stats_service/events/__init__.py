"""The event model: validation, normalisation and the mapping to line-protocol points."""
