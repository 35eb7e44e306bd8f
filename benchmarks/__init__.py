"""gittrack's benchmark suite: the same workloads against gittrack, MLflow, DVC and C git.

Run ``python -m benchmarks --help``; see benchmarks/README.md.
"""
