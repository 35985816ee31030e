"""minion's built-in blueprints. A repo overrides any of them in .minion/blueprints/."""
