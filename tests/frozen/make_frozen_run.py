"""How tests/frozen/run-v1 was written (once, by vaekit 0.1.0 at commit 0828c6e; do not rerun).

Every later version must load that run directory and give the outputs in run-v1-expected.json.
"""

import json
import shutil
from pathlib import Path

import torch

import vaekit

root = Path("tests/frozen")
run = root / "run-v1"
if run.exists():
    shutil.rmtree(run)
vaekit.train(
    data="digits",
    model="mlp",
    hidden_dims=(32,),
    latent_dim=4,
    epochs=2,
    batch_size=64,
    seed=3,
    out=run,
    progress=False,
)
m = vaekit.load(run)
test = __import__("vaekit.api.run", fromlist=["x"]).reopen_dataset(m.run_config).test
x = test.scaled(slice(0, 4))
expected = {
    "sample_seed0": m.sample(3, seed=0).flatten(1)[:, :16].tolist(),
    "reconstruct_first4": m.reconstruct(x).flatten(1)[:, :16].tolist(),
    "encode_mean_first4": m.encode(x).mean.tolist(),
    "eval_k10_seed0": {
        k: v
        for k, v in vaekit.evaluate(m, iw_samples=10, max_examples=50, probe=False).items()
        if k in ("elbo", "iwae")
    },
}
(root / "run-v1-expected.json").write_text(json.dumps(expected, indent=1))
print(vaekit.__version__, torch.__version__)
