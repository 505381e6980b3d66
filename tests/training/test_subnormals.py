"""The optimizer's subnormal state values are set to 0 every FLUSH_EVERY steps on a CPU
(vaekit.training.optimizers.flush_subnormals): a moving average whose gradient has stopped
decays into the subnormal range and stays there, where a CPU computes many times more
slowly; the weights do not change."""

import torch

import vaekit.training.loop as loop
from vaekit.data.batches import ImageSet
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.distributed import SINGLE
from vaekit.training.optimizers import FLUSH_EVERY, flush_subnormals
from vaekit.training.scoring import labels_for

TINY = torch.finfo(torch.float32).tiny


def _subnormal(t: torch.Tensor) -> int:
    return int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())


def test_flush_sets_subnormal_values_to_zero_and_leaves_the_rest():
    p = torch.nn.Parameter(torch.zeros(6))
    optimizer = torch.optim.Adam([p], lr=1e-3)
    sub = TINY / 4
    optimizer.state[p] = {
        "step": torch.tensor(7.0),
        "exp_avg": torch.tensor([sub, -sub, 0.0, TINY, -1e-3, 5.0]),
        "exp_avg_sq": torch.tensor([sub, 1e-30, 0.0, 0.0, 2.0, 1e-45], dtype=torch.float32),
        "wide": torch.tensor([1e-310, 1e-300], dtype=torch.float64),  # float64's own range
    }
    flush_subnormals(optimizer)
    state = optimizer.state[p]
    assert state["exp_avg"].tolist() == [0.0, 0.0, 0.0, TINY, torch.tensor(-1e-3).item(), 5.0]
    assert state["exp_avg_sq"].tolist() == [0.0, torch.tensor(1e-30).item(), 0.0, 0.0, 2.0, 0.0]
    assert state["wide"].tolist() == [0.0, 1e-300]
    assert state["step"].item() == 7.0


def _steps(flush_every: int, monkeypatch) -> tuple[torch.Tensor, list[int]]:
    """Train a small MLP for 16 * FLUSH_EVERY steps on rows whose first value is 0 except in
    the first batch: the Adam averages of its weights decay from there, into the subnormal
    range within the run (after about 800 steps). Returns the weights, and the first layer's
    count of subnormal averages after each step at which the loop flushes."""
    monkeypatch.setattr(loop, "FLUSH_EVERY", flush_every)
    torch.manual_seed(0)
    n, batch = 64, 64
    rows = torch.rand(n, 1, 1, 8)
    rows[:, 0, 0, 0] = 0.0
    first = rows.clone()
    first[:, 0, 0, 0] = 1.0
    config = loop.TrainConfig(batch_size=batch, seed=1)
    config_of_model = ModelConfig.create((1, 1, 8), family="mlp", hidden_dims=(8,), latent_dim=2)
    model = build_vae(config_of_model)
    state = loop.make_state(model, config)
    steps = loop._Steps.make(config, model, SINGLE)
    index = torch.arange(batch)
    counts = []
    for i in range(16 * FLUSH_EVERY):
        train = ImageSet(first if i == 0 else rows, None, 1.0)
        loop._step(state, model, train, labels_for(model, train), index, config, 1e-3, steps)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            counts.append(_subnormal(state.optimizer.state[steps.params[0]]["exp_avg"]))
    return torch.cat([p.detach().flatten() for p in model.parameters()]), counts


def test_the_cpu_loop_flushes_the_optimizers_subnormals_and_the_weights_stay(monkeypatch):
    kept, kept_counts = _steps(10**9, monkeypatch)  # never flushed
    assert kept_counts[-1] >= 8  # the case arises: the 8 weights of the first input
    flushed, counts = _steps(FLUSH_EVERY, monkeypatch)
    assert set(counts) == {0}
    assert torch.equal(flushed, kept)  # the same weights, to the bit
