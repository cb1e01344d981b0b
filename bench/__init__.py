"""Benchmarks: `python -m bench` (make bench) runs every one of them."""
