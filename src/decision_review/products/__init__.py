"""Product lines: the live policy and model behind each, the engine cache, and the stop switch."""
