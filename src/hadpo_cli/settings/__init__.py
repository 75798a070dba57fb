"""One pydantic settings model per command (one module each); see :mod:`.base`."""
