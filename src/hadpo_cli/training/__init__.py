"""HA-DPO training: DPO math (pure), sequence log-probs, batching, and the Trainer subclass."""
