"""NeuralForecast's side of benchmarks/peers.py; runs in the benchmark's own environment
(NeuralForecast and its torch), never in relulab's. Reads a JSON job on stdin, writes one
JSON line of results on stdout.

The job: a long table (``unique_id``, ``ds``, ``y``), the test size, the input size, and
the fits to make (model, activation, seed, steps, batch sizes). Each fit trains one
global model on every series' points before the test region (``val_size=0``) and
forecasts the test region one step ahead from the actual values, parameters fixed:
``cross_validation(h=1, step_size=1, n_windows=test_size, refit=False)``.

Where NeuralForecast cannot take the activation (its LSTM's cells are torch's ``nn.LSTM``,
tanh by construction; its MLP hard-codes ``torch.relu``), the fit says so: the LSTM runs
with its own tanh only, and the MLP's tanh runs as a subclass whose forward applies
``torch.tanh`` where NeuralForecast's applies ``torch.relu``, nothing else changed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("PL_DISABLE_FORK", "1")


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
                 "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> int:
    _quiet()
    import numpy as np
    import pandas as pd
    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import LSTM, MLP

    torch.set_num_threads(int(os.environ.get("PEERS_THREADS", "2")))

    class TanhMLP(MLP):
        """NeuralForecast's MLP with tanh where its forward hard-codes relu."""

        def forward(self, windows_batch):
            relu = torch.relu
            torch.relu = torch.tanh
            try:
                return super().forward(windows_batch)
            finally:
                torch.relu = relu

    job = json.load(sys.stdin)
    df = pd.DataFrame(job["data"])
    df["ds"] = pd.to_datetime(df["ds"])
    test = int(job["test_size"])
    out = []
    for fit in job["fits"]:
        common = dict(h=1, input_size=int(job["input_size"]), loss=MSE(), valid_loss=MSE(),
                      max_steps=int(fit["steps"]), batch_size=int(fit["batch_size"]),
                      windows_batch_size=int(fit["windows"]), learning_rate=1e-3,
                      scaler_type=job["scaler"], random_seed=int(fit["seed"]),
                      enable_progress_bar=False, enable_model_summary=False, logger=False,
                      enable_checkpointing=False, accelerator="cpu", devices=1)
        note = ""
        if fit["model"] == "lstm":
            if fit["activation"] != "tanh":
                out.append({**fit, "skipped": "NeuralForecast's LSTM cells are torch's "
                            "nn.LSTM, tanh by construction: no other activation"})
                continue
            model = LSTM(encoder_hidden_size=int(fit["units"]), encoder_n_layers=1,
                         decoder_layers=1, decoder_hidden_size=int(fit["units"]), **common)
        else:
            cls = TanhMLP if fit["activation"] == "tanh" else MLP
            note = ("tanh by a subclass (NeuralForecast's MLP hard-codes relu)"
                    if fit["activation"] == "tanh" else "")
            model = cls(num_layers=1, hidden_size=int(fit["units"]), **common)
        nf = NeuralForecast(models=[model], freq=job["freq"])
        t0 = time.perf_counter()
        cv = nf.cross_validation(df, n_windows=test, step_size=1, refit=False, val_size=0)
        seconds = time.perf_counter() - t0
        name = next(c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y"))
        rmse = {str(uid): float(np.sqrt(np.mean((g["y"] - g[name]) ** 2)))
                for uid, g in cv.groupby("unique_id")}
        out.append({**fit, "seconds": seconds, "rmse": rmse, "note": note})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
