"""Benchmarks behind ``fedmkt bench``: each command's work lives in its own module, returning plain dicts."""
