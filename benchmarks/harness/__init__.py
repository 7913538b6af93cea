"""The benchmark harness behind ``benchmarks/run.py``: Moorage beside the distribution registry."""
