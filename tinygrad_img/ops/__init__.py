"""Differentiable primitives: one op family per file, forward and backward side by side."""
