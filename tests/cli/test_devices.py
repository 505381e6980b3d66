"""Every command on the device it is given: `--device` everywhere, and no tensor of the model's
computation made on another device than the model's.

This machine has no GPU, so a tensor made without a device (which lands on the CPU, and on a
GPU breaks the first operation that mixes it with the model's) works here as well as a right
one. DeviceCheck, a TorchFunctionMode, sees every tensor-making call as it is made: where the
code calling it computes with the model (models, apps, evaluation, training, the server's
explorer, each kind's model and evaluate parts), the call must name the model's device, or
read it from a tensor it is given (torch.as_tensor(t), torch.zeros_like(t)). Reading data and
writing files (vaekit.data, the report's pictures, the commands' outputs) rightly happen on
the CPU, and are not looked at.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from tests.conftest import write_npz
from vaekit.cli.main import main
from vaekit.cli.options import DEVICES

# The calls that make a tensor from nothing: without a device they make it on the CPU.
FACTORIES = {
    torch.arange,
    torch.as_tensor,
    torch.empty,
    torch.empty_strided,
    torch.eye,
    torch.full,
    torch.linspace,
    torch.logspace,
    torch.normal,
    torch.ones,
    torch.rand,
    torch.randint,
    torch.randn,
    torch.randperm,
    torch.scalar_tensor,
    torch.tensor,
    torch.tril_indices,
    torch.triu_indices,
    torch.zeros,
}
# Always on the CPU, whatever the model's device (and not seen by a TorchFunctionMode: it is
# watched by standing in for it while the check holds).
HOST_ONLY = "from_numpy"
# The modules that compute with the model (a module name's beginning).
COMPUTING = (
    "vaekit.models.",
    "vaekit.apps.",
    "vaekit.evaluation.",
    "vaekit.training.",
    "vaekit.serve.explorer",
)
KIND_COMPUTING = ("model", "evaluate")  # vaekit.kinds.<kind>.model*, .evaluate*
# Functions of those modules that make tensors on the CPU by design, each for its reason.
ON_THE_HOST = {
    # Noise keyed by example index (a CPU generator per block of samples), so that an
    # example's bound is the same number on every device and in every batch; the callers move
    # it to the model's device.
    ("vaekit.models.importance", "sample_noise"): "the same noise on every device",
    # Example indices, on the host: they key each example's noise (above) and index the data
    # where it lies (a memory-mapped file, or the device's memory for training).
    ("vaekit.training.scoring", "mean_loss"): "example indices",
    ("vaekit.serve.explorer", "_rank_dims"): "example indices",
    # Per-example results, filled in batch by batch on the host: they are written out (eval.json,
    # the CSVs, the map), and memory on the device stays that of one batch.
    ("vaekit.models.posterior", "posterior_moments_of"): "per-example results",
    ("vaekit.evaluation.evaluate", "_score"): "per-example results",
    # A client's numbers, read on the host: its map plane is there, and Model.decode takes
    # latents anywhere to the model's device.
    ("vaekit.serve.explorer", "latent"): "the map's latents",
}


def computes(module: str) -> bool:
    """Whether code of `module` computes with the model (where its tensors must be made on
    the model's device)."""
    parts = module.split(".")
    if parts[:2] == ["vaekit", "kinds"] and len(parts) > 3:
        return parts[3].partition("_")[0] in KIND_COMPUTING
    return module.startswith(COMPUTING)


class DeviceCheck(TorchFunctionMode):
    """Records each tensor-making call, made directly from code that computes with the model,
    that does not name `device` (or names another): where it was made and what was wrong."""

    def __init__(self, device: torch.device, found: list[str]) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.found = found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES:
            self.judge(func.__name__, args, kwargs, sys._getframe(1))
        return func(*args, **kwargs)

    def __enter__(self) -> DeviceCheck:
        self.host_only = getattr(torch, HOST_ONLY)

        def watched(*args: Any, **kwargs: Any) -> torch.Tensor:
            self.judge(HOST_ONLY, args, kwargs, sys._getframe(1))
            return self.host_only(*args, **kwargs)

        setattr(torch, HOST_ONLY, watched)
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        setattr(torch, HOST_ONLY, self.host_only)
        super().__exit__(*exc)

    def judge(self, name: str, args: tuple, kwargs: dict[str, Any], caller: Any) -> None:
        """Record the call `caller` (the frame that called torch: torch's own calls are not
        judged) made, where its module computes with the model and the tensor lands
        elsewhere than the model's device. A model being built is not judged: what it makes
        are its parameters and buffers, which move with it."""
        module, function = caller.f_globals.get("__name__", ""), caller.f_code.co_name
        outer = caller
        while outer.f_code.co_name.startswith("<") and outer.f_back is not None:
            outer = outer.f_back  # a generator expression, a comprehension: its function's
            function = outer.f_code.co_name
        if not computes(module) or (module, function) in ON_THE_HOST:
            return
        why = self.wrong(name, args, kwargs)
        if why and not building(caller):
            self.found.append(f"{module}:{caller.f_lineno} ({function}): torch.{name} {why}")

    def wrong(self, name: str, args: tuple, kwargs: dict[str, Any]) -> str:
        """Why this call makes its tensor elsewhere than the model's device ("" where not)."""
        if name == HOST_ONLY:
            return "always makes a CPU tensor"
        if kwargs.get("device") is not None:
            device = torch.device(kwargs["device"])
            if device.type != self.device.type:
                return f"on {device}, not the model's {self.device}"
            return ""
        if any(isinstance(a, torch.Tensor) for a in args):
            return ""  # as_tensor(t), normal(mean, std): on the tensor's device
        return "without a device"


def building(frame: Any) -> bool:
    """Whether `frame` runs inside an nn.Module's constructor (a model being built)."""
    while frame is not None:
        if frame.f_code.co_name == "__init__" and isinstance(
            frame.f_locals.get("self"), torch.nn.Module
        ):
            return True
        frame = frame.f_back
    return False


@contextmanager
def checking(device: torch.device) -> Iterator[list[str]]:
    """DeviceCheck on this thread, and on the server's worker threads (where `vaekit serve`
    runs the model: a TorchFunctionMode holds only on the thread that enters it)."""
    from vaekit.serve import app

    found: list[str] = []
    run = app.Gate.run

    async def checked_run(gate, fn, *args):
        def inside(*inner):
            with DeviceCheck(device, found):
                return fn(*inner)

        return await run(gate, inside, *args)

    app.Gate.run = checked_run
    try:
        with DeviceCheck(device, found):
            yield found
    finally:
        app.Gate.run = run


def vaekit(*args: Any) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exit:
        return exit.code
    raise AssertionError("main() must exit")


def _png_upload() -> bytes:
    pixels = np.full((SIZE, SIZE), 30, np.uint8)
    pixels[: SIZE // 2, : SIZE // 2] = 220
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _serve_one_of_each(monkeypatch) -> list[int]:
    """`vaekit serve` answers in the test's own process: instead of listening, uvicorn's
    server sends the app one request of each kind; their status codes are returned."""
    import uvicorn
    from starlette.testclient import TestClient

    codes: list[int] = []

    def answer(server, sockets=None) -> None:
        for sock in sockets or []:
            sock.close()
        with TestClient(server.config.app, base_url="http://127.0.0.1:8000") as client:
            codes.append(client.get("/api/info").status_code)
            codes.append(client.post("/api/decode", json={"point": [0.5, -0.5]}).status_code)
            codes.append(client.post("/api/sample", json={"n": 2}).status_code)
            codes.append(client.post("/api/upload?name=a.png", content=_png_upload()).status_code)

    monkeypatch.setattr(uvicorn.Server, "run", answer)
    return codes


# Each family's own code makes its own tensors: a few models that between them reach every
# family, prior, posterior and decoder of images.
MODELS = {
    "mlp": ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "3"],
    "conv-vamp-iaf": ["--model", "conv", "--channels", "4,8", "--latent-dim", "3",
                      "--prior", "vamp", "--prior-components", "3", "--flow-steps", "1"],
    "hvae": ["--model", "hvae", "--hidden-dims", "16", "--latent-dim", "4", "--layers", "2"],
    "pixelcnn-mog": ["--model", "conv", "--channels", "4,8", "--latent-dim", "3",
                     "--autoregressive", "1", "--ar-width", "4", "--prior", "mog",
                     "--prior-components", "2"],
}  # fmt: skip
# What a model cannot do, refused in one line (not a device matter).
REFUSED = {
    ("conv-vamp-iaf", "traverse"): "standard-normal prior",
    ("hvae", "traverse"): "one-layer model",
    ("pixelcnn-mog", "traverse"): "standard-normal prior",
    ("pixelcnn-mog", "export"): "autoregressive",
}
# Commands that reach the same pixel-by-pixel decoding as `sample` and `reconstruct` do, many
# times over (a report draws six pictures): left out where that decoding is slow.
SAME_DECODING = {"pixelcnn-mog": {"report", "compare", "interpolate", "denoise", "uncertainty"}}
SIZE = 8  # the images' side: small, for the autoregressive decoder's pixel-by-pixel drawing


def _commands(run: Path, out: Path, device: torch.device) -> list[list[Any]]:
    """Every command that computes with a run's model, on tiny settings, on the default
    device (auto; export's is the CPU, so it is given `device`)."""
    return [
        ["eval", run, "--iw-samples", "3", "--chunk", "2", "--max-examples", "12", "--quiet"],
        ["sample", run, "-n", "4", "-o", out / "s.png", "--npy", out / "s.npy"],
        ["reconstruct", run, "-n", "4", "-o", out / "r.png"],
        ["interpolate", run, "--from", "0", "--to", "1", "--steps", "3", "-o", out / "i.png"],
        ["traverse", run, "--index", "0", "--steps", "3", "-o", out / "t.png"],
        ["embed", run, "-o", out / "e.npy"],
        ["denoise", run, "-n", "4", "--add-noise", "gaussian:0.2", "-o", out / "dn"],
        ["uncertainty", run, "-n", "2", "--samples", "2", "-o", out / "un"],
        ["anomaly", run, "-o", out / "a-elbo.csv", "--normal-labels", "0"],
        ["anomaly", run, "-o", out / "a-nll.csv", "--score", "nll", "--iw-samples", "3"],
        ["anomaly", run, "-o", out / "a-latent.csv", "--score", "latent"],
        ["anomaly", run, "-o", out / "a-knn.csv", "--score", "knn"],
        ["anomaly", run, "-o", out / "a-complexity.csv", "--score", "complexity"],
        ["anomaly", run, "-o", out / "a-recon.csv", "--score", "recon"],
        ["report", run],
        ["compare", run, run, "-o", out / "c.html"],
        ["export", run, "--format", "torchscript", "-o", out / "ts", "--device", str(device)],
        ["serve", run, "--port", "0"],
    ]


@pytest.mark.parametrize("family", list(MODELS))
def test_every_command_makes_the_models_tensors_on_its_device(
    family: str, tmp_path: Path, monkeypatch, capsys
):
    from vaekit.api import model as api_model

    device = api_model.resolve_device("auto")  # the default of every command: the CPU here
    data = write_npz(tmp_path / "data.npz", n=96, size=SIZE)
    run, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    loaded: list[torch.device] = []
    load_model = api_model.load_model

    def recording(rundir, where="cpu"):
        loaded.append(torch.device(where))
        return load_model(rundir, where)

    monkeypatch.setattr(api_model, "load_model", recording)
    codes = _serve_one_of_each(monkeypatch)
    wrong: dict[str, list[str]] = {}  # command -> what it made elsewhere (each place once)
    with checking(device) as found:
        assert vaekit("train", "--data", data, *MODELS[family], "--epochs", "1", "--batch-size",
                      "32", "--out", run, "--quiet", "--no-report") == 0  # fmt: skip
        wrong["train"] = list(dict.fromkeys(found))
        for args in _commands(run, out, device):
            if args[0] in SAME_DECODING.get(family, ()):
                continue
            capsys.readouterr()
            loaded.clear()
            found.clear()
            code = vaekit(*args)
            err = capsys.readouterr().err
            refused = REFUSED.get((family, args[0]))
            if refused is not None:
                assert code == 1 and refused in err, (args[0], err)
                continue
            assert code == 0, (args[0], err)
            assert loaded and set(loaded) == {device}, (args[0], loaded)
            shown = [a for a in args if not isinstance(a, Path)]  # the command and its flags
            wrong[" ".join(map(str, shown))] = list(dict.fromkeys(found))
    made = {command: places for command, places in wrong.items() if places}
    assert not made, "\n".join(f"{c}:\n  " + "\n  ".join(places) for c, places in made.items())
    assert codes == [200, 200, 200, 200]


def test_the_check_finds_a_tensor_made_without_the_models_device():
    # The check itself can fail: code that computes with the model (by its module's name)
    # making a tensor on the CPU is found, whichever way it does; data code is left alone.
    code = """
import numpy as np
import torch
def planted(x):
    torch.randn(3)
    torch.zeros(2, device="meta")
    torch.from_numpy(np.zeros(2))
    torch.tensor([1.0])
    torch.arange(4, device=x.device)
    torch.as_tensor(x)
    torch.zeros_like(x)
"""
    found: list[str] = []
    flagged = {"vaekit.kinds.x.model_y": 4, "vaekit.data.planted": 0,
               "vaekit.report.planted": 0, "vaekit.models.planted": 4}  # fmt: skip
    for module, count in flagged.items():
        scope: dict[str, Any] = {"__name__": module}
        exec(compile(code, f"<{module}>", "exec"), scope)
        found.clear()
        with DeviceCheck(torch.device("cpu"), found):
            scope["planted"](torch.ones(2))
        assert len(found) == count, (module, found)
    assert found == [
        "vaekit.models.planted:5 (planted): torch.randn without a device",
        "vaekit.models.planted:6 (planted): torch.zeros on meta, not the model's cpu",
        "vaekit.models.planted:7 (planted): torch.from_numpy always makes a CPU tensor",
        "vaekit.models.planted:8 (planted): torch.tensor without a device",
    ]
    found.clear()
    scope = {"__name__": "vaekit.apps.planted"}
    exec("import torch\ndef f():\n    return torch.randn(2)", scope)
    with DeviceCheck(torch.device("cpu"), found):
        scope["f"]()
        [scope["f"]() for _ in range(1)]
        [torch.zeros(1) for _ in range(1)]  # this test's module: not judged
    assert found == ["vaekit.apps.planted:3 (f): torch.randn without a device"] * 2


def test_the_check_names_the_function_a_comprehension_is_in():
    scope: dict[str, Any] = {"__name__": "vaekit.evaluation.planted"}
    exec("import torch\ndef g():\n    return [torch.zeros(1) for _ in range(2)]", scope)
    found: list[str] = []
    with DeviceCheck(torch.device("cpu"), found):
        scope["g"]()
    assert found == ["vaekit.evaluation.planted:3 (g): torch.zeros without a device"] * 2


def test_each_function_let_make_host_tensors_is_there():
    # A place let off that no longer exists would let off whatever comes to bear its name.
    import importlib

    for module, function in ON_THE_HOST:
        found = importlib.import_module(module)
        for part in ("Explorer", function) if module.endswith("explorer") else (function,):
            found = getattr(found, part)
        assert callable(found), (module, function)


def test_the_check_leaves_a_model_being_built_alone():
    # Parameters and buffers are made on the CPU and moved with their module (.to(device)).
    scope: dict[str, Any] = {"__name__": "vaekit.models.planted"}
    exec("import torch\ndef mask():\n    return torch.ones(2)\nclass M(torch.nn.Module):\n"
         "    def __init__(self):\n        super().__init__()\n"
         "        self.register_buffer('m', mask())\n", scope)  # fmt: skip
    found: list[str] = []
    with DeviceCheck(torch.device("cpu"), found):
        scope["M"]()
        assert found == []
        scope["mask"]()  # outside a constructor: judged
    assert found == ["vaekit.models.planted:3 (mask): torch.ones without a device"]


def test_the_check_holds_on_the_servers_worker_threads():
    # A TorchFunctionMode holds only on its own thread: `checking` carries it into the
    # server's model calls, which run on worker threads.
    import anyio

    from vaekit.serve.app import Gate

    scope: dict[str, Any] = {"__name__": "vaekit.serve.explorer"}
    exec("import torch\ndef f():\n    return torch.ones(1)", scope)
    with checking(torch.device("cpu")) as found:
        anyio.run(Gate(1, 4).run, scope["f"])
    assert found == ["vaekit.serve.explorer:3 (f): torch.ones without a device"]


COMMANDS = ["eval", "sample", "reconstruct", "interpolate", "traverse", "embed", "denoise",
            "uncertainty", "anomaly", "report", "compare", "serve", "export"]  # fmt: skip


def test_every_computing_command_takes_device_with_trains_default(capsys):
    for command in [*COMMANDS, "train"]:
        assert vaekit(command, "--help") == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "--device DEVICE" in text, command
        default = "cpu" if command == "export" else "auto"
        assert f"{' '.join(DEVICES.split())} (default: {default}" in text, command


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="a machine with 8 GPUs has cuda:7")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_device_not_here_is_refused_before_any_work(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()  # no run is needed: the device is refused first
    rundirs = [run, run] if command == "compare" else [run]
    extra = ["-o", "x"] if command == "export" else []
    assert vaekit(command, *rundirs, *extra, "--device", "cuda:7") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error: --device cuda:7:") and "\n" not in err, command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert list(run.iterdir()) == []


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="a machine with 8 GPUs has cuda:7")
def test_a_search_refuses_a_device_not_here_before_any_trial(tmp_path, capsys):
    """Each trial would fail on it, the whole budget long."""
    assert vaekit("tune", "--data", "digits", "--budget", "1h", "--out", tmp_path / "s",
                  "--device", "cuda:7") == 1  # fmt: skip
    assert capsys.readouterr().err.startswith("vaekit: error: --device cuda:7:")
    assert list(tmp_path.iterdir()) == []


def test_cpu_0_is_the_cpu_for_every_command():
    from vaekit.api.model import resolve_device

    assert resolve_device("cpu:0") == torch.device("cpu") == resolve_device("cpu")
