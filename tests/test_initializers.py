"""The initialisers against Keras 3 itself (JAX backend), against their distributions, and
the randomized asymmetric initialisation (RAI) against the definition of Lu et al. (2020)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from relulab import config
from relulab.errors import RelulabError
from relulab.models import initializers as inits

# name -> (Keras class name, scale, fan: "in" | "avg", distribution)
KERAS = {
    "glorot_uniform": ("GlorotUniform", 1.0, "avg", "uniform"),
    "glorot_normal": ("GlorotNormal", 1.0, "avg", "truncated"),
    "he_normal": ("HeNormal", 2.0, "in", "truncated"),
    "he_uniform": ("HeUniform", 2.0, "in", "uniform"),
    "lecun_normal": ("LecunNormal", 1.0, "in", "truncated"),
}


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("keras was imported with another backend before this module")
    return keras


def _words(shape, seed=0):
    return jax.random.bits(jax.random.key(seed), shape, jnp.uint32)


def _kernel(name: str, bits: jax.Array) -> np.ndarray:
    # Jitted, as the models run them (XLA may fuse a scale and shift into one FMA).
    return np.asarray(jax.jit(getattr(inits, name))(bits), np.float64)


def _std(name: str, shape: tuple[int, int]) -> float:
    """The standard deviation Keras' VarianceScaling aims at (after truncation)."""
    _, scale, fan, _ = KERAS[name]
    n = shape[0] if fan == "in" else (shape[0] + shape[1]) / 2
    return float(np.sqrt(scale / n))


@pytest.mark.parametrize("name", sorted(KERAS))
@pytest.mark.parametrize("shape", [(7, 5), (1, 4), (3, 1)])
def test_keras_initialisers_draw_what_keras_draws_from_the_same_words(name, shape):
    keras = _keras()
    seed = 3
    theirs = np.asarray(getattr(keras.initializers, KERAS[name][0])(seed=seed)(shape))
    # Keras on JAX turns an integer seed into the raw key [seed, 0]: the same words.
    bits = jax.random.bits(jnp.array([seed, 0], jnp.uint32), shape, jnp.uint32)
    np.testing.assert_array_equal(_kernel(name, bits).astype(np.float32), theirs)


def test_truncated_normal_is_jax_random_own():
    key = jax.random.key(11)
    ours = jax.jit(lambda k: inits.truncated_normal_from_bits(
        jax.random.bits(k, (5000,), jnp.uint32)))(key)
    theirs = jax.jit(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (5000,)))(key)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", sorted(KERAS))
def test_spread_and_bounds_follow_the_fans(name):
    shape = (300, 500)
    w = _kernel(name, _words(shape, seed=1))
    target = _std(name, shape)
    n = w.size
    assert abs(w.mean()) < 4 * target / np.sqrt(n)
    # The sample std of 150,000 draws is within 1% of the target.
    assert abs(w.std() / target - 1) < 0.01
    if KERAS[name][3] == "truncated":
        # Truncated at two standard deviations of the normal *before* truncation.
        bound = 2 * target / inits.TRUNCATED_STD
        assert np.abs(w).max() < bound
        assert np.abs(w).max() > 0.99 * bound
    else:
        limit = np.sqrt(3) * target
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit


@pytest.mark.parametrize(("name", "depends_on_fan_out"), [
    ("he_normal", False), ("he_uniform", False), ("lecun_normal", False),
    ("glorot_normal", True), ("glorot_uniform", True),
])
def test_which_fans_set_the_scale(name, depends_on_fan_out):
    narrow = _kernel(name, _words((400, 50), seed=2)).std()
    wide = _kernel(name, _words((400, 800), seed=2)).std()
    if depends_on_fan_out:
        assert wide / narrow == pytest.approx(np.sqrt(450 / 1200), rel=0.03)
    else:
        assert wide / narrow == pytest.approx(1.0, rel=0.03)


def test_every_init_the_config_accepts_gives_kernel_and_bias_of_the_layer_shape():
    for name in config.INITS:
        init = inits.get(name)
        rows, cols = inits.draw_shape(name, 6, 3)
        kernel, bias = jax.jit(init.draw)(_words((rows, cols)))
        assert kernel.shape == (6, 3), name
        assert bias.shape == (3,), name
        if init.symmetric:  # Keras' initialisers: zero bias, words of the kernel's shape
            assert (rows, cols) == (6, 3)
            np.testing.assert_array_equal(bias, np.zeros(3))


def test_a_wrong_name_names_the_choices():
    with pytest.raises(RelulabError, match=r"unknown initialiser 'kaiming'.*he_normal.*rai"):
        inits.get("kaiming")


# --- RAI -------------------------------------------------------------------------------------


def _rai_parts(fan_in: int, fan_out: int, seed: int = 0):
    """RAI's [W | b] and, read from the words independently of the code, the index of each
    neuron's asymmetric entry (floor(U * (fan_in + 1)), U the word's top 23 bits)."""
    bits = _words((fan_in + inits.RAI_EXTRA_ROWS, fan_out), seed)
    kernel, bias = jax.jit(inits.rai)(bits)
    v = np.vstack([np.asarray(kernel, np.float64), np.asarray(bias, np.float64)[None]])
    u = (np.asarray(bits[fan_in + 2]) >> 9).astype(np.float64) / 2.0 ** 23
    k = np.floor(u * (fan_in + 1)).astype(int)
    return v, k


def test_rai_has_one_beta_entry_per_neuron_at_a_uniform_index():
    fan_in, fan_out = 3, 200_000
    v, k = _rai_parts(fan_in, fan_out)
    cols = np.arange(fan_out)
    p = v[k, cols]
    q = np.delete(v.T.ravel(), k + cols * (fan_in + 1))  # every other entry
    assert q.size == fan_in * fan_out
    # P = Beta(2, 1): support (0, 1), mean 2/3, variance 1/18; and the distribution itself.
    assert p.min() > 0 and p.max() < 1
    assert p.mean() == pytest.approx(2 / 3, abs=4 * np.sqrt(1 / 18 / fan_out))
    assert p.var() == pytest.approx(1 / 18, rel=0.02)
    assert stats.kstest(p, stats.beta(2, 1).cdf).pvalue > 1e-3
    # Q = N(0, sigma^2), sigma = 0.6007 / sqrt(fan_in).
    sigma = 0.6007 / np.sqrt(fan_in)
    assert abs(q.mean()) < 4 * sigma / np.sqrt(q.size)
    assert q.std() == pytest.approx(sigma, rel=0.01)
    assert stats.kstest(q, stats.norm(0, sigma).cdf).pvalue > 1e-3
    # The index is uniform over the fan_in + 1 entries, the bias included.
    counts = np.bincount(k, minlength=fan_in + 1)
    assert counts.size == fan_in + 1
    assert stats.chisquare(counts).pvalue > 1e-3


def test_rai_makes_the_asymmetric_entry_positive_and_leaves_the_rest_symmetric():
    v, k = _rai_parts(5, 50_000, seed=4)
    cols = np.arange(v.shape[1])
    assert (v[k, cols] > 0).all()
    symmetric = np.ones(v.shape, bool)
    symmetric[k, cols] = False
    positive = np.mean(v[symmetric] > 0)
    assert positive == pytest.approx(0.5, abs=4 * 0.5 / np.sqrt(5 * 50_000))
    # So each neuron has at least one positive entry of [w | b] for sure, and the share of
    # positive entries is 1/(n+1) + 1/2 * n/(n+1) = 7/12 for n = 5.
    assert (v > 0).any(axis=0).all()
    assert np.mean(v > 0) == pytest.approx(7 / 12, abs=0.005)


def test_rai_reads_its_words_in_the_documented_rows():
    fan_in, fan_out = 4, 6
    bits = _words((fan_in + 3, fan_out), seed=9)
    kernel, bias = jax.jit(inits.rai)(bits)
    # Changing the index words moves the Beta entry; the normal draws stay where they were.
    moved = bits.at[fan_in + 2].set(jnp.uint32(0))  # U = 0: every index 0 (the first input)
    kernel2, bias2 = jax.jit(inits.rai)(moved)
    np.testing.assert_array_equal(kernel2[0], np.sqrt(
        (np.asarray(bits[fan_in + 1]) >> 9).astype(np.float64) / 2.0 ** 23).astype(np.float32))
    assert (np.asarray(kernel2[0]) > 0).all()
    sigma = 0.6007 / np.sqrt(fan_in)
    normal = np.asarray(jax.jit(inits.normal_from_bits)(bits[:fan_in + 1])) * np.float32(sigma)
    np.testing.assert_allclose(kernel2[1:], normal[1:fan_in], rtol=1e-6)
    np.testing.assert_allclose(bias2, normal[fan_in], rtol=1e-6)
    assert kernel.shape == (fan_in, fan_out) and bias.shape == (fan_out,)


# --- the config's init field ---------------------------------------------------------------

# The keys of the reference study as every stored database knows them (computed before the
# config had an init field): the default init must not change them.
SEED_KEY = "5bd19ecc3364b461"
SEED_MLP_KEY = "bbd37a8784367aba"


def test_the_default_init_keeps_every_stored_study_key():
    assert config.preset("seed").key() == SEED_KEY
    assert config.preset("seed", model="mlp").key() == SEED_MLP_KEY
    assert config.preset("seed", model="mlp", init="glorot_uniform").key() == SEED_MLP_KEY
    # Another init is another study, and the field is stored with the config either way.
    rai = config.preset("seed", model="mlp", init="rai")
    assert rai.key() != SEED_MLP_KEY
    assert config.StudyConfig.from_dict(rai.to_dict()) == rai
    old = config.preset("seed").to_dict()
    del old["init"]  # a config stored before the field existed
    assert config.StudyConfig.from_dict(old).key() == SEED_KEY


def test_the_config_checks_the_init():
    with pytest.raises(RelulabError, match="unknown init 'he'; choose one of: glorot_uniform"):
        config.preset("seed", model="mlp", init="he")
    with pytest.raises(RelulabError, match="applies to the MLP"):
        config.preset("seed", init="he_normal")  # the seed preset is an LSTM


def test_study_cli_takes_init(capsys):
    from relulab.cli import build_parser, main
    from relulab.cli.study import config_from_args

    args = build_parser().parse_args(["study", "--model", "mlp", "--init", "rai"])
    assert config_from_args(args).init == "rai"
    assert main(["study", "--bundled", "sunspots", "--init", "he_normal", "--no-db"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("relulab: error: init 'he_normal' applies")
