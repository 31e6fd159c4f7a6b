"""Terminal rendering of a study result: the summary table, baselines and verdicts."""

from __future__ import annotations

from typing import Any

from relulab import display
from relulab.diagnostics import warnings_of
from relulab.metrics import METRICS
from relulab.result import StudyResult


def _shown(task: str) -> tuple[tuple[str, str, str], ...]:
    """The summary table's columns for ``task``, in display order; headers and formats
    from the registry."""
    return tuple((m, info.terminal, info.terminal_format) for m, info in METRICS.items()
                 if task in info.tasks)


def headline(result: StudyResult) -> str:
    """The line above a result's table: what was trained on what."""
    c = result.config
    n, n_test = result.values.size, result.values.size - result.test_start
    if result.task == "forecast":
        paths = (f" in {c.horizon}-step paths ({c.strategy})" if c.horizon > 1 else "")
        return (f"{n} points, test = last {n_test}{paths}, model {c.model.upper()}({c.units}) × "
                f"{c.layers}, {c.epochs} epochs, {c.seeds} seeds per activation")
    model = (c.model_description.split("\n", 1)[0] or "the user's model"
             if c.model == "user" else f"relulab's MLP({c.units}) × {c.layers}")
    return (f"{c.task}, {result.train_end} train / {result.test_start - result.train_end} "
            f"validation / {n_test} test examples, {model}, {c.epochs} epochs, {c.seeds} "
            "seeds per activation")


def show_result(console: Any, result: StudyResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    c = result.config
    shown = _shown(result.task)
    console.print(f"[bold]{escape(result.series_name)}[/bold]: {escape(headline(result))}")
    table = Table(title="Test-window metrics: median over seeds, [95% bootstrap interval] "
                  "below", title_justify="left")
    table.add_column("activation")
    table.add_column("runs", justify="right")
    diagnostics = result.diagnostics
    units = bool(diagnostics and diagnostics.units_dead)
    if units:
        # Median over seeds of the share of all hidden units dead at the kept epoch, and
        # dormant below it (relulab.diagnostics).
        table.add_column("dead units", justify="right")
    for _, header, _ in shown:
        table.add_column(header, justify="right")
    summary = result.summary.set_index(["activation", "metric"])
    frame = result.runs_frame
    for act in c.activations:
        runs = frame[frame.activation == act]
        n_ok = int((~runs.diverged).sum())
        cells = [escape(act), f"{n_ok}/{len(runs)}"]
        if units:
            dead = diagnostics.units_dead.get(act)
            dormant = diagnostics.units_dormant.get(act)
            cells.append(f"{display.percent(dead)}\n[dim]dormant {display.percent(dormant)}"
                         "[/dim]")
        for col, _, fmt in shown:
            if (act, col) not in summary.index:
                cells.append(display.MISSING)
                continue
            row = summary.loc[(act, col)]
            # Median above, its interval below: narrow enough for a 120-column terminal.
            median, lo, hi = (display.spec(row[k], fmt) for k in ("median", "lo", "hi"))
            cells.append(f"{median}\n[dim][{lo}, {hi}][/dim]")
        table.add_row(*cells)
    for name, b in result.baselines.items():
        m = b["metrics"]
        table.add_row(f"[dim]{name} (baseline)[/dim]", display.MISSING,
                      *([display.MISSING] if units else []),
                      *[display.spec(m.get(col), fmt) for col, _, fmt in shown])
    console.print(table)
    if result.by_step:
        steps = Table(title="Test RMSE by steps ahead (activations: median over seeds)",
                      title_justify="left")
        steps.add_column("")
        for h in range(1, c.horizon + 1):
            steps.add_column(f"h={h}", justify="right")
        for name, metrics in result.by_step.items():
            label = escape(name) if name in c.activations else f"[dim]{name} (baseline)[/dim]"
            steps.add_row(label, *[display.spec(v, ".4g") for v in metrics.get("rmse", [])])
        console.print(steps)
    if result.task == "forecast" and (words := _baseline_words(result)):
        console.print(words, highlight=False)
    if result.comparisons:
        console.print("[bold]Verdicts[/bold] (each activation against the reference):")
        for comp in result.comparisons:
            console.print(f"  {escape(comp.verdict)}", highlight=False)
    if result.adaptive:
        a = result.adaptive
        widths = ", ".join(f"{b['seeds']}: {display.percent(b['widest'], 1)}"
                           for b in a["batches"])
        why = ("every interval narrower than the target" if a["stopped"] == "precise"
               else "the seed cap was reached")
        console.print(f"--seeds auto: {a['seeds']} seeds per activation ({why}, "
                      f"{display.percent(a['target_width'], 1)}); widest interval after "
                      f"each batch: {widths}", highlight=False, markup=False)
    for w in warnings_of(result):
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False)
    t = result.timing
    if t:
        # A task's engine compiles inside its training (if at all): no compile time apart.
        compiled = (f"compile {display.spec(t.get('compile_s'), '.1f')} s, "
                    if result.task == "forecast" else "")
        console.print(
            f"[dim]wall {display.spec(t.get('wall_s'), '.1f')} s, {compiled}"
            f"{display.spec(t.get('model_steps_per_s'), ',.0f')} model-steps/s[/dim]"
        )


def _baseline_words(result: Any) -> str:
    """Whether any activation's median beats the strongest baseline (relulab.verdicts)."""
    from relulab.verdicts import baseline_words

    medians = result.summary[result.summary["metric"] == "rmse"] if len(result.summary) \
        else result.summary
    return baseline_words({r.activation: r.median for r in medians.itertuples(index=False)},
                          {name: b.get("metrics", {}).get("rmse")
                           for name, b in result.baselines.items()})
