"""Evaluation: batched/sharded generation, POPE, SHR, and the LLM judge client."""
