"""Our activations beside each framework's native function, 10^7 float32 elements.

    .venv/bin/python benchmarks/activations.py [--n 10000000] [--repeats 5] [--only gelu,relu]

Prints, per activation and framework, our median time, the native twin's, and the ratio
(goal: <= 1.2 wherever a twin exists). On PyTorch "ours" is what `act(x)` does (dispatch to
the torch.nn.functional twin); the generic array-API path (`act.apply(x, native=False)`)
is timed and reported beside it. NumPy has no activation library: its twins are the
idiomatic one-liners listed in relulab.activations.bench.
"""

from __future__ import annotations

import argparse
import importlib.util

from relulab.activations import names
from relulab.activations.bench import FRAMEWORKS, throughput


def _ms(n: int, mps: float | None) -> str:
    return "-" if mps is None else f"{n / mps / 1e3:8.2f}"


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated activation names")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    args = parser.parse_args()
    selected = [a for a in args.only.split(",") if a] or names()
    frameworks = [f for f in args.frameworks.split(",") if importlib.util.find_spec(f)]
    header = (f"{'activation':<18}{'framework':<10}{'ours ms':>9}{'native ms':>11}"
              f"{'ratio':>7}{'generic ms':>12}{'gen. ratio':>11}")
    print(f"n = {args.n:,} float32 elements, median of {args.repeats} after warm-up")
    print(header)
    print("-" * len(header))
    variants = []
    for name in selected:
        variants.append((name, {}))
        if name == "gelu":
            variants.append(("gelu", {"approximate": "tanh"}))
    for name, params in variants:
        label = name + ("(tanh)" if params else "")
        for framework in frameworks:
            r = throughput(name, framework, args.n, args.repeats, **params)
            print(f"{label:<18}{framework:<10}{_ms(args.n, r['ours']):>9}"
                  f"{_ms(args.n, r['native']):>11}{_ratio(r['ratio']):>7}"
                  f"{_ms(args.n, r['generic']):>12}{_ratio(r['generic_ratio']):>11}",
                  flush=True)


if __name__ == "__main__":
    main()
