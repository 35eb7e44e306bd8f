"""A small deterministic training script: linear regression by gradient descent.

Pure Python (no numpy): the data come from a seeded ``random.Random``, so the same
params give bit-identical metrics and ``gittrack reproduce`` reports a match.
"""

from __future__ import annotations

import argparse
import math
import random

import gittrack


def make_data(seed: int, n: int = 200) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [
        (x, 3.0 * x - 0.5 + rng.gauss(0.0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(n))
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    data = make_data(args.seed)
    w = b = 0.0
    with gittrack.start_run():
        gittrack.log_params({"lr": args.lr, "epochs": args.epochs, "seed": args.seed})
        for epoch in range(args.epochs):
            gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
            gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
            w, b = w - args.lr * gw, b - args.lr * gb
            mse = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
            gittrack.log_metric("rmse", math.sqrt(mse), step=epoch)
        gittrack.log_metrics({"w": w, "b": b})
    print(f"w={w:.6f} b={b:.6f} rmse={math.sqrt(mse):.6f}")


if __name__ == "__main__":
    main()
