"""Built-in minimisers and samplers, registered through the same hooks as plugins."""
