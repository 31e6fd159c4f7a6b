"""`--seeds auto --target-width W`: seeds in batches until every interval is narrow enough."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relulab.config import preset
from relulab.errors import RelulabError
from relulab.store import Store
from relulab.study import Study
from relulab.study.adaptive import run_adaptive, widest_interval


def _values(n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(5)
    return 50 + 20 * np.sin(np.arange(n) / 3) + rng.normal(0, 3, n)


CONFIG = preset("seed", activations=("tanh", "relu"), epochs=6, test_size=10)


def test_a_wide_target_stops_after_the_first_batch() -> None:
    result = run_adaptive(CONFIG, _values(), target_width=10.0, batch=4, max_seeds=12)
    assert result.adaptive["seeds"] == 4 and result.adaptive["stopped"] == "precise"
    assert result.config.seeds == 4 and len(result.runs) == 8
    assert widest_interval(result) < 10.0


def test_an_unreachable_target_stops_at_the_cap_with_a_warning_and_equals_a_fixed_study(
        tmp_path) -> None:
    with pytest.warns(UserWarning, match="stopped at --max-seeds 9"), \
            Store(tmp_path / "r.db") as store:
        result = run_adaptive(CONFIG, _values(), target_width=1e-9, batch=3, max_seeds=9,
                              store=store)
    a = result.adaptive
    assert a["seeds"] == 9 and a["stopped"] == "max_seeds"
    assert [b["seeds"] for b in a["batches"]] == [3, 6, 9]
    # Seeds 0-8 trained in three batches are the runs of one 9-seed study, bit for bit,
    # and so is everything computed from them.
    fixed = Study(CONFIG.replace(seeds=9), _values()).run()
    for x, y in zip(result.runs, fixed.runs, strict=True):
        assert (x.activation, x.seed) == (y.activation, y.seed)
        np.testing.assert_array_equal(x.forecast, y.forecast)
        np.testing.assert_array_equal(x.loss, y.loss)
    assert [c.verdict for c in result.comparisons] == [c.verdict for c in fixed.comparisons]
    # Stored as the 9-seed study: a fixed run of it trains nothing.
    with Store(tmp_path / "r.db") as store:
        again = Study(CONFIG.replace(seeds=9), _values()).run(store=store)
    assert again.timing["groups_trained"] == 0.0
    assert json.loads(json.dumps(result.to_json()))["adaptive"]["seeds"] == 9


def test_bad_settings_are_one_clear_error() -> None:
    with pytest.raises(RelulabError, match="two activations"):
        run_adaptive(CONFIG.replace(activations=("tanh",)), _values(), target_width=0.05)
    with pytest.raises(RelulabError, match="--target-width"):
        run_adaptive(CONFIG, _values(), target_width=0.0)
    with pytest.raises(RelulabError, match="--seed-batch"):
        run_adaptive(CONFIG, _values(), target_width=0.05, batch=1)


def test_cli_seeds_auto_needs_a_target_width(tmp_path, capsys) -> None:
    from relulab.cli import main

    data = tmp_path / "s.csv"
    data.write_text("y\n" + "\n".join(f"{v:.4f}" for v in _values()) + "\n")
    code = main(["study", "--data", str(data), "--seeds", "auto", "--no-db", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--seeds auto and --target-width go together" in err
    code = main(["study", "--data", str(data), "--activations", "tanh,relu", "--seeds",
                 "auto", "--target-width", "10", "--seed-batch", "3", "--epochs", "4",
                 "--test-size", "10", "--no-db", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "--seeds auto: 3 seeds per activation" in out
