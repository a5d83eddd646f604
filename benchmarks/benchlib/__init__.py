"""Shared helpers for Podium's media benchmark suite (see benchmarks/README.md)."""
