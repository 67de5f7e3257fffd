"""One package per client contract: parse, authorize through the core, shape the reply."""
