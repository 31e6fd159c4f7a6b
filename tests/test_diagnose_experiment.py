"""The cause-and-cure experiment (`relulab diagnose`): a grid trained as one program per
activation and shape, checked against the same cells trained one study at a time."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from relulab.data import Series
from relulab.dying.experiment import ExperimentSpec, run_experiment, verdicts


def _series(n: int = 90) -> Series:
    rng = np.random.default_rng(3)
    t = np.arange(n)
    return Series(50 + 20 * np.sin(t / 3) + rng.normal(0, 3, n), "wave")


SPEC = ExperimentSpec(depths=(2,), widths=(4,), learning_rates=(1e-3, 0.3),
                      inits=("glorot_uniform", "he_normal"), activations=("relu", "leaky_relu"),
                      seeds=3, epochs=15, test_size=10, bootstrap=200)


@pytest.fixture(scope="module")
def experiment():
    return run_experiment(SPEC, _series())


def test_every_cell_is_there_with_its_intervals(experiment) -> None:
    assert len(experiment.cells) == 1 * 1 * 2 * 2 * 2
    for c in experiment.cells:
        assert c.seeds + c.diverged == SPEC.seeds
        for share, lo, hi in ((c.dead_share, c.dead_low, c.dead_high),
                              (c.dormant_share, c.dormant_low, c.dormant_high)):
            assert 0.0 <= share <= 1.0 and lo <= share <= hi
        assert c.rmse_low <= c.rmse <= c.rmse_high
        # A unit of a 2 x 4 MLP is an eighth of its units: shares are multiples of it.
        assert (c.dead_share * 8 * 2) == pytest.approx(round(c.dead_share * 8 * 2))
        if c.activation == "leaky_relu":
            assert c.dead_share == 0.0  # leaky ReLU has no exact zeros on these inputs
        assert c.dead_share <= c.dormant_share  # a dead unit is dormant


def test_a_cell_is_the_study_of_that_cell_alone(experiment) -> None:
    # The grid trains (lr, init, seed) in one program with the learning rate traced; the
    # same cell as its own study trains with it constant: float32 rounding apart, equal.
    from relulab.config import preset
    from relulab.study import Study

    cell = experiment.cell(2, 4, 0.3, "he_normal", "relu")
    config = dataclasses.replace(SPEC.config(4, 2), activations=("relu",), learning_rate=0.3,
                                 init="he_normal", reference="relu")
    assert config.key() != preset("seed").key()
    result = Study(config, _series()).run()
    rmse = [r.metrics["rmse"] for r in result.runs if not r.diverged]
    assert cell.rmse == pytest.approx(float(np.median(rmse)), rel=1e-3)
    assert cell.dead_share == pytest.approx(result.diagnostics.units_dead["relu"], abs=1 / 8)


def test_verdicts_name_the_worst_cell_and_its_cures(experiment) -> None:
    words = verdicts(experiment)
    worst = max((c for c in experiment.cells if c.activation == "relu"),
                key=lambda c: (c.dead_share, c.depth, c.learning_rate))
    assert words[0].startswith(f"relu, depth {worst.depth}, width 4, lr {worst.learning_rate:g}")
    assert "leaky_relu: 0%" in words[0]
    doc = json.loads(json.dumps(experiment.to_json()))
    assert doc["verdicts"] == words and len(doc["cells"]) == 8
    for key in ("depth", "width", "learning_rate", "init", "activation", "seeds", "dead_share",
                "dead_low", "dead_high", "dormant_share", "rmse", "rmse_low", "rmse_high"):
        assert key in doc["cells"][0]


def test_bad_settings_are_one_clear_error() -> None:
    from relulab.errors import RelulabError

    with pytest.raises(RelulabError, match="relux"):
        ExperimentSpec(activations=("relu", "relux"))
    with pytest.raises(RelulabError, match="init"):
        ExperimentSpec(inits=("glorot",))
    with pytest.raises(RelulabError, match="learning rates"):
        ExperimentSpec(learning_rates=(0.0,))


@pytest.mark.parametrize("settings, config", [
    (dict(inits=("he_normal", "glorot")), dict(model="mlp", init="glorot")),
    (dict(seeds=0), dict(seeds=0)),
    (dict(batch_size=0), dict(batch_size=0)),
])
def test_the_experiment_refuses_a_setting_as_a_study_does(settings, config) -> None:
    """The cells are study configs: one check of each setting, one message."""
    from relulab.config import StudyConfig
    from relulab.errors import RelulabError

    with pytest.raises(RelulabError) as from_experiment:
        ExperimentSpec(**settings)
    with pytest.raises(RelulabError) as from_study:
        StudyConfig(**config)
    assert str(from_experiment.value) == str(from_study.value)


def test_cli_runs_the_experiment_and_writes_json_and_report(tmp_path, capsys) -> None:
    from relulab.cli import main

    data = tmp_path / "s.csv"
    data.write_text("y\n" + "\n".join(f"{v:.4f}" for v in _series().values) + "\n")
    code = main(["diagnose", "--data", str(data), "--depths", "1,2", "--widths", "4",
                 "--learning-rates", "0.3", "--inits", "he_normal", "--activations",
                 "relu,elu", "--seeds", "2", "--epochs", "5", "--quiet",
                 "--json", str(tmp_path / "d.json"), "--report", str(tmp_path / "d.html")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "Units dead (dormant)" in out and "- relu, depth" in out
    doc = json.loads((tmp_path / "d.json").read_text())
    assert {(c["depth"], c["activation"]) for c in doc["cells"]} == {
        (1, "relu"), (1, "elu"), (2, "relu"), (2, "elu")}
    page = (tmp_path / "d.html").read_text()
    assert "Which settings kill units" in page and "data:image/png;base64," in page
    for bad in (["--activations", "relux"], ["--learning-rates", "-1"], ["--inits", "x"]):
        try:
            code = main(["diagnose", "--data", str(data), *bad, "--quiet"])
        except SystemExit as exc:  # argparse's own usage errors exit from inside main()
            code = exc.code
        out, err = capsys.readouterr()
        assert code == 2 and err.startswith("relulab: error:") and err.count("\n") == 1


def test_cli_defaults_match_the_library() -> None:
    from relulab.cli import diagnose as cli
    from relulab.dying import experiment as lib

    def ints(text: str) -> tuple:
        return tuple(int(v) for v in text.split(","))

    assert ints(cli.EXPERIMENT_DEPTHS) == lib.DEFAULT_DEPTHS
    assert ints(cli.EXPERIMENT_WIDTHS) == lib.DEFAULT_WIDTHS
    assert tuple(float(v) for v in cli.EXPERIMENT_LEARNING_RATES.split(",")) == \
        lib.DEFAULT_LEARNING_RATES
    assert tuple(cli.EXPERIMENT_INITS.split(",")) == lib.DEFAULT_INITS
    assert tuple(cli.EXPERIMENT_ACTIVATIONS.split(",")) == lib.DEFAULT_ACTIVATIONS
    assert math.isfinite(ExperimentSpec().epochs)
