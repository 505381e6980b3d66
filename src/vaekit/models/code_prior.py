"""The second stage of a VQ-VAE: an autoregressive prior over its code maps (van den Oord et
al. 2017, section 3.2), saved in the run directory beside the weights.

p(k) = prod_i p(k_i | k_<i) over the h x w positions of a code map, in raster order, each a
K-way categorical. The network is vaekit's PixelCNN layers (vaekit.models.pixelcnn): each
code is embedded, a gated layer with mask A (each position sees only those before it) then
gated layers with mask B read the map, and a 1x1 convolution gives the K logits of each
position. The gated layers' conditioning input is one constant plane: the prior is
unconditional.

Files: RUNDIR/code_prior.safetensors (the weights only) and RUNDIR/code_prior.json (the sizes
that rebuild the network, what it was fit on, and the sha256 of the model weights whose codes it
models). Loading reads the JSON, checks its sizes, builds the network and reads the tensors:
nothing in the files is run.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models.io import read_safetensors, weights_sha256
from vaekit.models.pixelcnn import GatedLayer

PRIOR_WEIGHTS = "code_prior.safetensors"
PRIOR_RECORD = "code_prior.json"
# Sizes a record may ask for (it may come from an untrusted run directory).
MAX_LAYERS = 64
MAX_WIDTH = 4096
MAX_CODES = 1 << 20
MAX_POSITIONS = 1 << 16


class CodePrior(nn.Module):
    """A PixelCNN over code maps (B, h, w) of indices in [0, K)."""

    def __init__(self, codes: int, map_size: tuple[int, int], width: int, layers: int,
                 kernel: int = 3) -> None:  # fmt: skip
        super().__init__()
        self.codes, self.map_size = codes, tuple(map_size)
        self.width, self.layers_count, self.kernel = width, layers, kernel
        self.embed = nn.Embedding(codes, width)
        first = GatedLayer(width, width, 1, kernel, "A")
        rest = [GatedLayer(width, width, 1, kernel, "B") for _ in range(layers - 1)]
        self.layers = nn.ModuleList([first, *rest])
        self.head = nn.Conv2d(width, codes, 1)

    def sizes(self) -> dict[str, Any]:
        """What rebuilds this network (code_prior.json's "network")."""
        return {"codes": self.codes, "map_size": list(self.map_size), "width": self.width,
                "layers": self.layers_count, "kernel": self.kernel}  # fmt: skip

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """The logits (B, K, h, w) of each position given the codes before it."""
        h = self.embed(codes).permute(0, 3, 1, 2)
        ones = h.new_ones(h.shape[0], 1, *h.shape[2:])
        for layer in self.layers:
            h = layer(h, ones)
        return self.head(F.silu(h))

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(codes) in nats, (B,), for code maps (B, h, w)."""
        logits = self.logits(codes)
        return -F.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """n code maps (n, h, w), position by position, each drawn from its conditional with
        the logits divided by `temperature`."""
        device = self.head.weight.device
        h, w = self.map_size
        codes = torch.zeros(n, h, w, dtype=torch.long, device=device)
        for i in range(h):
            for j in range(w):
                logits = self.logits(codes)[:, :, i, j]  # the largest at 0: no inf - inf
                top = logits.max(dim=1, keepdim=True).values
                probs = F.softmax((logits - top) / temperature, dim=1)
                codes[:, i, j] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return codes


def save_code_prior(rundir: str | Path, prior: CodePrior, record: dict[str, Any]) -> None:
    """Write the weights, then the record (with the network's sizes): each to a temporary
    name, then renamed, the JSON last, so that a record always describes weights on disk."""
    state = {k: v.detach().cpu().contiguous() for k, v in prior.state_dict().items()}
    folder = Path(rundir)
    atomic_write(folder / PRIOR_WEIGHTS, lambda p: save_file(state, str(p)))
    write_json(folder / PRIOR_RECORD, {**record, "network": prior.sizes()})


def _checked_sizes(network: Any, where: Path) -> dict[str, Any]:
    """The record's network sizes, each a whole number in its range (one-line VaekitError)."""
    limits = {"codes": MAX_CODES, "width": MAX_WIDTH, "layers": MAX_LAYERS, "kernel": 15}
    if not isinstance(network, dict):
        raise VaekitError(f"{where}: no network sizes")
    for key, most in limits.items():
        value = network.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise VaekitError(f"{where}: network {key} must be a whole number from 1 to {most}")
    size = network.get("map_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s >= 1
                                                              for s in size)):  # fmt: skip
        raise VaekitError(f"{where}: network map_size must be two whole numbers")
    if math.prod(size) > MAX_POSITIONS or network["kernel"] % 2 == 0 or network["kernel"] < 3:
        raise VaekitError(f"{where}: network sizes out of range")
    return network


def load_code_prior(rundir: str | Path, model: Any) -> CodePrior | None:
    """The code prior saved in `rundir` for `model` (a VQVAE), on its device; None where
    none was fit, or where it was fit to other weights than the run's (a warning says so).
    One that does not fit the model (another codebook size or map size) is a one-line
    VaekitError."""
    folder = Path(rundir)
    where = folder / PRIOR_RECORD
    if not where.exists():
        return None
    try:
        record = json.loads(where.read_text())
    except (OSError, ValueError) as err:
        raise VaekitError(f"{where}: not a readable code prior record ({err})") from None
    network = _checked_sizes(record.get("network") if isinstance(record, dict) else None, where)
    expected = (model.codebook.size, list(model.map_size))
    if (network["codes"], network["map_size"]) != expected:
        raise VaekitError(f"{where}: its sizes do not fit this model's codes; rerun vaekit "
                          f"fit-prior {folder}")  # fmt: skip
    sha = record.get("weights_sha256")
    if (folder / "model.safetensors").exists() and sha != weights_sha256(folder):
        # Stale (the model trained on after fit-prior): the model itself still works for
        # everything but sampling, so the prior is left out, with a warning, not refused.
        warnings.warn(f"{where}: fit to other weights than {folder}'s (trained on since?), "
                      f"so not used; rerun vaekit fit-prior {folder}", stacklevel=2)  # fmt: skip
        return None
    prior = CodePrior(network["codes"], tuple(network["map_size"]), network["width"],
                      network["layers"], network["kernel"])  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in prior.state_dict().items()}
    device = model.codebook.codes.device
    state, _ = read_safetensors(folder / PRIOR_WEIGHTS, shapes, device, "code prior")
    missing = set(shapes) - set(state)
    if missing or set(state) - set(shapes):
        raise VaekitError(f"{folder / PRIOR_WEIGHTS}: its tensors do not match the code prior")
    prior.load_state_dict(state)
    return prior.to(device).eval()
