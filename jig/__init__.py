"""Jig: the composition root that wires the runtime with the layers above it."""
