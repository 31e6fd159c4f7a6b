"""`relulab activations ...`: list, evaluate, plot and measure the activation family.

A thin shell: the functions come from :mod:`relulab.activations`, the measured table from
:mod:`relulab.activations_table`; this module parses arguments and renders. JAX, PyTorch and
matplotlib are imported inside the commands that need them so that ``relulab --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab import display
from relulab.cli.terminal import console
from relulab.errors import RelulabError

# argparse (Python 3.11) only treats "-3" and "-0.7" as numbers; "-1e3", "-inf" or "-nan"
# would be read as unknown options. The commands below have no option that looks like a
# number, so every argument that starts like a negative number is a value.
_NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf(inity)?$|nan$)", re.IGNORECASE)

PLOT_FORMATS = (".png", ".svg", ".pdf")
PLOT_RANGE = (-4.0, 4.0)  # the grid in cmd_plot matches it


class _NumbersParser(argparse.ArgumentParser):
    """An ArgumentParser that reads -1e3, -inf and -nan as values, not options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``relulab activations {list,eval,plot,table}``."""
    parser = sub.add_parser(
        "activations",
        help="list, evaluate, plot and measure the activation functions",
        description="The activation family: list, evaluate, plot and measure it.",
    )
    parser.set_defaults(func=lambda args: _print_help(parser))
    commands = parser.add_subparsers(
        dest="activations_command", metavar="SUBCOMMAND", parser_class=_NumbersParser
    )

    p = commands.add_parser(
        "list",
        help="names, parameters, formulas and properties",
        description="Every activation with its parameters (defaults), formula and properties.",
    )
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "eval",
        help="evaluate an activation (and its derivative) at given points",
        description="Evaluate NAME at X... and print a table of x and f(x) (and f'(x)).",
        epilog="example: relulab activations eval leaky_relu -3 -0.7 0 1.2 5 "
        "--param negative_slope=0.1 --grad",
    )
    p.add_argument("name", metavar="NAME", help="activation name (see `activations list`)")
    p.add_argument("x", metavar="X", nargs="+", help="points to evaluate at (floats)")
    _add_param_option(p)
    p.add_argument("--grad", action="store_true", help="also print the derivative f'(x)")
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser(
        "plot",
        help="plot activations (and derivatives) to a PNG/SVG file",
        description=f"Plot the named activations on x in [{PLOT_RANGE[0]:g}, "
        f"{PLOT_RANGE[1]:g}] into one figure.",
        epilog="example: relulab activations plot relu gelu silu --derivative -o act.png",
    )
    p.add_argument("names", metavar="NAME", nargs="+", help="activation names")
    p.add_argument(
        "--derivative", action="store_true", help="add a second panel with the derivatives"
    )
    _add_param_option(
        p,
        extra=" KEY=VALUE applies to every named activation that has KEY; "
        "NAME.KEY=VALUE to one of them.",
    )
    p.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FILE",
        help="output file: .png, .svg or .pdf",
    )
    p.set_defaults(func=cmd_plot)

    p = commands.add_parser(
        "table",
        help="the pros/cons table, measured (distribution, dying units, kinks, throughput)",
        description=(
            "For standard-normal input (fixed seed): output mean and std, fraction of exact "
            "zeros (sparsity), fraction of zero gradient (dying risk), the derivative at 0 "
            "from the left (f'(-t)), what .grad(0) returns (PyTorch's kink convention) and "
            "from the right (f'(t)), with t the smallest normal float64. Then throughput in "
            "million float32 elements per second, ours beside the framework's own function "
            f"('{display.MISSING}' where it has none), in NumPy, JAX (jitted) and PyTorch "
            "when installed."
        ),
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--samples", type=_positive_int, default=None, metavar="N",
        help="standard-normal samples for the statistics (default 10^6)",
    )
    p.add_argument(
        "--elements", type=_non_negative_int, default=None, metavar="N",
        help="float32 elements per throughput measurement (default 10^7; 0 skips timing)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the sample (default 0)")
    p.set_defaults(func=cmd_table)


# ---------------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from relulab import activations

    table = Table(
        title="relulab activations",
        title_justify="left",
        caption="parameters at their defaults (PyTorch's); C¹: continuously differentiable; "
        "zero-centred: |mean| <= 0.25 std on standard-normal input",
        caption_justify="left",
    )
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("parameters", overflow="fold")
    table.add_column("formula", ratio=1, overflow="fold")
    for header in ("monotonic", "C¹", "bounded below", "zero-centred"):
        table.add_column(header, justify="center")
    for name in activations.names():
        act = activations.get(name)
        learnable = set(getattr(act, "learnable", ()) or ())
        params = ", ".join(
            f"{key}={_format_param(value)}" + (" (learned)" if key in learnable else "")
            for key, value in act.params.items()
        )
        table.add_row(
            name,
            params or display.MISSING,
            act.text_formula,
            *(_yes_no(getattr(act, prop)) for prop in _PROPERTIES),
        )
    console().print(table)
    return 0


_PROPERTIES = ("monotonic", "smooth", "bounded_below", "zero_centered")


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


# ---------------------------------------------------------------------------------- eval


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.table import Table

    from relulab import activations

    act = activations.get(args.name, **_parse_params(args.param))
    x = np.array([_parse_number(text) for text in args.x], dtype=np.float64)
    # Infinite inputs may give NaN (e.g. -inf * 0); the table shows it, a warning adds noise.
    with np.errstate(all="ignore"):
        columns = [x, np.asarray(act(x))]
        if args.grad:
            columns.append(np.asarray(act.grad(x)))
    table = Table(title=_label(act), title_justify="left")
    for header in ("x", "f(x)", "f'(x)")[: len(columns)]:
        table.add_column(header, justify="right")
    for row in zip(*columns, strict=True):
        table.add_row(*(format_number(v) for v in row))
    console().print(table)
    return 0


def format_number(value: float) -> str:
    """A float as a person writes it: 0, 1.2, 5, -0.6931471806, 1e+300, nan, inf."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    # `+ 0.0` turns -0.0 into 0.0: in a table of values the sign of zero is noise.
    return f"{value + 0.0:.10g}"


def _parse_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RelulabError(
            f"X {text!r} is not a number; give points as floats, e.g. -3 -0.7 0 1.2 5"
        ) from None


# ---------------------------------------------------------------------------------- plot


def cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np
    from matplotlib.figure import Figure

    from relulab import activations

    output: Path = args.output
    if output.suffix.lower() not in PLOT_FORMATS:
        raise RelulabError(
            f"output {str(output)!r} has suffix {output.suffix or '(none)'!r}; "
            f"use one of {', '.join(PLOT_FORMATS)}, e.g. -o activations.png"
        )
    if not output.parent.is_dir():
        raise RelulabError(
            f"output directory {str(output.parent)!r} does not exist; create it first"
        )
    acts = [activations.get(name, **p) for name, p in _params_per_name(args.names, args.param)]

    # A grid of multiples of 1/200 on [-4, 4] holds the kinks (0, ±1) exactly.
    x = np.arange(-800, 801) / 200
    panels = 2 if args.derivative else 1
    fig = Figure(figsize=(6.4 * panels, 4.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    # Curves often coincide (every ReLU variant is x for x > 0): vary the dash as well as
    # the colour so that a curve drawn later does not hide one drawn earlier.
    for i, (act, color) in enumerate(zip(acts, _colors(len(acts)), strict=True)):
        style = {"color": color, "lw": 2.0, "linestyle": _LINESTYLES[i % len(_LINESTYLES)]}
        axes[0].plot(x, np.asarray(act(x)), label=_plot_label(act), **style)
        if args.derivative:
            axes[1].plot(*_break_jumps(x, np.asarray(act.grad(x))), **style)
    axes[0].set_title("Activation")
    axes[0].set_ylabel("f(x)")
    if args.derivative:
        axes[1].set_title("Derivative")
        axes[1].set_ylabel("f′(x)")
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_xlim(*PLOT_RANGE)
        ax.axhline(0, color="0.55", lw=0.8, zorder=0)
        ax.axvline(0, color="0.55", lw=0.8, zorder=0)
        ax.grid(True, alpha=0.3)
    if len(acts) <= 6:
        axes[0].legend(loc="upper left", framealpha=0.9)
    else:
        fig.legend(loc="outside right center", fontsize="small")
    fig.savefig(output, dpi=150)
    print(f"wrote {output}")
    return 0


def _break_jumps(x: Any, y: Any) -> tuple[Any, Any]:
    """Insert a gap where a derivative jumps, so a step is not drawn as a steep line."""
    import numpy as np

    # On the 0.005 grid a continuous derivative of these functions moves < 0.01 per step;
    # a change above 0.02 is a jump (a kink of f).
    jumps = np.flatnonzero(np.abs(np.diff(y)) > 0.02) + 1
    return np.insert(x, jumps, np.nan), np.insert(np.asarray(y, dtype=float), jumps, np.nan)


_LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.2)), (0, (6, 2, 1, 2)))


def _plot_label(act: Any) -> str:
    """The name, with only the parameters that differ from the defaults."""
    from relulab import activations

    defaults = activations.get(act.name).params
    changed = {k: v for k, v in act.params.items() if defaults.get(k) != v}
    return _label_from(act.name, changed)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------------- table


def cmd_table(args: argparse.Namespace) -> int:
    from relulab import activations_table as at

    samples = at.SAMPLES if args.samples is None else args.samples
    elements = at.ELEMENTS if args.elements is None else args.elements
    seed = at.SEED if args.seed is None else args.seed
    rows = at.distribution(samples=samples, seed=seed)
    names = [row["name"] for row in rows]
    frameworks = at.available_frameworks() if elements else ()
    speeds: dict[str, Any] = {}
    if elements:
        speeds = _measure_with_progress(at, names, elements, frameworks)
    if args.json:
        payload = {
            "input": {"distribution": "standard normal", "samples": samples, "seed": seed},
            "throughput": {
                "unit": "million elements per second",
                "dtype": "float32",
                "elements": elements,
                "frameworks": list(frameworks),
            },
            "rows": [dict(row, throughput=speeds.get(row["name"], {})) for row in rows],
        }
        print(json.dumps(_json_safe(payload), indent=2))
        return 0
    out = console()
    out.print(_distribution_table(rows, samples, seed))
    if elements:
        out.print(_throughput_table(names, speeds, frameworks, elements))
    return 0


def _measure_with_progress(at: Any, names: list[str], elements: int, frameworks: Sequence[str]):
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("timing", total=len(names) * len(frameworks))

        def step(name: str, framework: str) -> None:
            progress.update(task, description=f"timing {name} in {framework}")
            progress.advance(task)

        return at.throughput(names, elements=elements, frameworks=frameworks, on_step=step)


def _distribution_table(rows: list[dict[str, Any]], samples: int, seed: int):
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"f(z) for standard-normal z ({samples:,} samples, seed {seed}), "
        "default parameters",
        title_justify="left",
        caption="zeros: f(z) = 0 exactly (sparsity); zero grad: f'(z) = 0 exactly (dying "
        "risk); f'(0⁻), f'(0⁺): one-sided derivatives at 0; f'(0): what .grad(0) returns, "
        "PyTorch's convention at a kink",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("activation", style="bold", no_wrap=True)
    for header in ("mean", "std", "zeros", "zero grad", "f'(0⁻)", "f'(0)", "f'(0⁺)"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['mean'] + 0.0:+.3f}",
            f"{row['std']:.3f}",
            _percent(row["zero_fraction"]),
            _percent(row["zero_grad_fraction"]),
            *(f"{row[k] + 0.0:.4g}" for k in ("grad_left", "grad_at_zero", "grad_right")),
        )
    return table


_FRAMEWORK_TITLES = {"numpy": "NumPy", "jax": "JAX (jit)", "torch": "PyTorch"}


def _throughput_table(names, speeds, frameworks, elements):
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"Throughput, million float32 elements per second ({elements:,} elements), "
        "relulab / the framework's own function",
        title_justify="left",
        caption=f"'{display.MISSING}': the framework has no function of its own for it. On "
        "PyTorch relulab dispatches to torch.nn.functional; the last column times its own "
        "array-API definition (act.apply(x, native=False)), which relulab.torch modules use.",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("activation", style="bold", no_wrap=True)
    for framework in frameworks:
        table.add_column(
            _FRAMEWORK_TITLES.get(framework, framework), justify="right", no_wrap=True
        )
    if "torch" in frameworks:
        table.add_column("PyTorch, relulab's\ndefinition", justify="right", no_wrap=True)
    for name in names:
        cells = []
        for framework in frameworks:
            speed = speeds.get(name, {}).get(framework, {})
            cells.append(f"{_speed(speed.get('ours'))} / {_speed(speed.get('native'))}")
        if "torch" in frameworks:
            cells.append(_speed(speeds.get(name, {}).get("torch", {}).get("generic")))
        table.add_row(name, *cells)
    return table


def _speed(value: float | None) -> str:
    if not display.finite(value):
        return display.MISSING  # the framework has no function of its own for it
    return display.spec(value, ",.0f" if value >= 10 else ".2g")


def _percent(fraction: float) -> str:
    if fraction == 0:
        return "0"  # exactly none, not a rounded 0.0%
    return display.percent(fraction, 1)


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------------------- helpers


def _add_param_option(parser: argparse.ArgumentParser, extra: str = "") -> None:
    parser.add_argument(
        "--param", "-p", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter, e.g. --param negative_slope=0.1 (repeatable)." + extra,
    )


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, value = _split_param(item)
        params[key] = value
    return params


def _split_param(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise RelulabError(
            f"--param {item!r} is not KEY=VALUE; write e.g. --param negative_slope=0.1"
        )
    try:
        return key, float(value)
    except ValueError:
        return key, value  # a string parameter, e.g. approximate=tanh


def _params_per_name(names: Sequence[str], items: Sequence[str]) -> list[tuple[str, dict]]:
    """Distribute --param over the named activations (KEY=V to all having KEY, NAME.KEY=V)."""
    from relulab import activations

    defaults = {name: dict(activations.get(name).params) for name in dict.fromkeys(names)}
    per_name: dict[str, dict[str, Any]] = {name: {} for name in defaults}
    for item in items:
        key, value = _split_param(item)
        target, dot, bare = key.partition(".")
        if dot:
            if target not in per_name:
                raise RelulabError(
                    f"--param {item!r} names {target!r}, which is not among the plotted "
                    f"activations ({', '.join(per_name)})"
                )
            per_name[target][bare] = value
            continue
        takers = [name for name in per_name if key in defaults[name]]
        if not takers:
            raise RelulabError(
                f"--param {item!r}: none of {', '.join(per_name)} has a parameter {key!r}; "
                "see `relulab activations list`"
            )
        for name in takers:
            per_name[name][key] = value
    return [(name, per_name[name]) for name in names]


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _format_param(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def _label(act: Any) -> str:
    return _label_from(act.name, act.params)


def _label_from(name: str, params: dict[str, Any]) -> str:
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={_format_param(v)}' for k, v in params.items())})"




def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1
