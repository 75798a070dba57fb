"""Readers for the public HA-DPO, POPE, SHR and Visual Genome formats; images load lazily."""
