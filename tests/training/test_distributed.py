"""Training under torchrun: two CPU processes (gloo) compute what one process computes, and a
run resumes under another number of processes."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vaekit
from tests.conftest import write_idx_folder
from vaekit.api.run import read_metrics
from vaekit.cli.main import build_parser
from vaekit.train_options import TRAIN_OPTIONS
from vaekit.training.distributed import Group

# 54 training images in batches of 15: the last batch (9) splits unevenly (4 + 5).
TINY = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "3", "--batch-size", "15"]


def torchrun(processes: int, *args) -> str:
    """`vaekit train ARGS` under torchrun; what it printed on stdout."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={processes}", "-m", "vaekit", "train", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-5, atol=1e-5)
    la = [json.loads(s) for s in (a / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(s) for s in (b / "metrics.jsonl").read_text().splitlines()]
    for ra, rb in zip(la, lb, strict=True):
        # the untrained model's rec (diverged_warning's yardstick): the whole first batch's,
        # where under DDP it was the first process's rows alone
        assert ra.get("first_step_rec") == pytest.approx(rb.get("first_step_rec"), abs=1e-4)
        for split in ("train", "val", "test"):
            if split in ra:
                assert ra[split]["neg_elbo"] == pytest.approx(rb[split]["neg_elbo"], abs=1e-4)
                assert ra[split].get("kl_layers") == pytest.approx(
                    rb[split].get("kl_layers"), abs=1e-4
                )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_idx_folder(tmp_path_factory.mktemp("ddp") / "idx", n_train=60, n_test=20, size=8)


def test_the_rows_of_a_batch_are_split_evenly():
    parts = [Group(rank, 3).rows(10) for rank in range(3)]
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 10)]
    assert Group(1, 2).rows(1) == slice(0, 1) and Group(0, 2).rows(1) == slice(0, 0)


def test_only_rank_0_reports_to_the_user(monkeypatch):
    from vaekit.training.distributed import is_main_process

    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


@pytest.mark.parametrize(
    "extra",
    [
        # a floor near the dimensions' KL, which some cross: judged on the whole batch's
        # mean KL, not on each process's rows
        ["--binarize", "--free-bits", "0.1", "--lr", "0.01"],
        ["--train-noise", "mask:0.2", "--iw-train", "2"],
        # the budget's decision is shared after every step; a hierarchy's KL per layer is
        # the whole split's
        ["--time-budget", "1h", "--model", "hvae", "--layers", "2"],
        # plain SGD steps by the gradient's size (Adam by its direction): the processes'
        # gradients must be the whole batch's mean, not a share of it
        ["--optimizer", "sgd", "--lr", "0.05"],
    ],
    ids=["binarize-free-bits", "noise-iwae", "time-budget", "sgd"],
)
def test_two_processes_train_what_one_process_trains(data: Path, tmp_path: Path, extra):
    flags = [*TINY, "--epochs", "2", *extra, "--quiet", "--no-report"]
    printed = torchrun(2, "--data", data, *flags, "--out", tmp_path / "two")
    assert printed.count("trained 2 epochs") == 1 and printed.count("run directory:") == 1
    single = vaekit.train(data, out=tmp_path / "one", **_options(flags), progress=False)
    assert_same_run(tmp_path / "two", single.path)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no leftovers


def test_two_processes_train_the_vqvae_one_process_trains(data: Path, tmp_path: Path):
    """A VQ-VAE's codebook restarts its idle codes at vectors drawn from the whole batch, as
    one process draws them (each process holds only its rows of it)."""
    flags = ["--model", "vqvae", "--channels", "4,8", "--latent-dim", "2", "--batch-size", "15",
             "--epochs", "2", "--quiet", "--no-report"]  # fmt: skip
    torchrun(2, "--data", data, *flags, "--out", tmp_path / "two")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each process of the two: a nearest code is no near tie
    try:  # decided one way in one order of a sum and the other way in another
        single = vaekit.train(data, out=tmp_path / "one", **_options(flags), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert_same_run(tmp_path / "two", single.path)


def test_a_run_resumes_under_another_number_of_processes(data: Path, tmp_path: Path):
    flags = [*TINY, "--quiet", "--no-report"]
    torchrun(2, "--data", data, *flags, "--epochs", "1", "--out", tmp_path / "run")
    vaekit.resume(tmp_path / "run", epochs=2, progress=False, report=False)  # one process
    torchrun(2, "--data", data, *flags, "--epochs", "3", "--out", tmp_path / "run", "--resume")
    whole = vaekit.train(data, out=tmp_path / "whole", epochs=3, **_options(TINY), progress=False)
    assert_same_run(tmp_path / "run", whole.path)


def test_a_time_budget_cuts_the_same_epoch_short_on_every_process(data: Path, tmp_path: Path):
    """The main process decides where the budget ends an epoch; the others stop at the same
    step (a process that went on would wait forever for the others' gradients)."""
    flags = [*TINY, "--epochs", "3", "--time-budget", "0.001", "--quiet", "--no-report"]
    torchrun(2, "--data", data, *flags, "--out", tmp_path / "two")
    lines = [json.loads(s) for s in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["cut_short"] == {"steps": 1, "of": 4}  # 54 training images, batches of 15
    assert len(lines) == 2 and lines[-1]["stopped_by"] == "time_budget"


def _options(flags: list[str]) -> dict:
    """The keyword arguments of vaekit.train that the flags give (as the CLI parses them)."""
    args = build_parser().parse_args(["train", *flags])
    given = {o.name: getattr(args, o.name) for o in TRAIN_OPTIONS}
    return {k: v for k, v in given.items() if v is not None and k not in ("out", "data")}


def test_two_processes_drop_the_same_words_as_one(tmp_path: Path):
    """Text's word dropout is drawn for the whole batch, like every other draw of a step."""
    words = ["a", "b", "c", "d", "e", "f"]
    lines = [" ".join(words[(i * k) % 6] for k in range(1, 2 + i % 5)) for i in range(70)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n")
    flags = ["--latent-dim", "2", "--embed-dim", "8", "--rnn-hidden", "8", "--batch-size", "15",
             "--word-dropout", "0.5", "--kl-warmup", "0", "--epochs", "2", "--quiet",
             "--no-report"]  # fmt: skip
    torchrun(2, "--data", corpus, *flags, "--out", tmp_path / "two")
    single = vaekit.train(corpus, out=tmp_path / "one", **_options(flags), progress=False)
    assert_same_run(tmp_path / "two", single.path)


def two_nodes(*args) -> str:
    """`vaekit train ARGS` as two machines of one process each would run it (`launch_nodes`),
    both succeeding; both machines' stdout."""
    printed = ""
    for done in launch_nodes(args):
        assert done.returncode == 0, done.stderr[-3000:]
        printed += done.stdout
    return printed


def launch_nodes(args, cwds=(None, None), timeout: int = 300) -> list[subprocess.CompletedProcess]:
    """`vaekit train ARGS` as two machines of one process each would run it: two torchrun
    launches, --nnodes 2 with c10d rendezvous on 127.0.0.1 (what users type on each machine,
    with the first machine's address), started together, each in its folder of `cwds`."""
    import socket

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launches = []
    for node in (0, 1):
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                   "--node-rank", str(node), "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                   "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "vaekit-test",
                   "-m", "vaekit", "train", *map(str, args)]  # fmt: skip
        launches.append(subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=cwds[node]))  # fmt: skip
    done = []
    for launch in launches:
        out, err = launch.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(launch.args, launch.returncode, out, err))
    return done


def test_two_machines_train_what_one_process_trains_and_resume_across(data: Path, tmp_path):
    flags = [*TINY, "--quiet", "--no-report"]
    printed = two_nodes("--data", data, *flags, "--epochs", "2", "--out", tmp_path / "nodes")
    assert printed.count("trained 2 epochs") == 1  # the first machine's rank 0 alone reports
    single = vaekit.train(data, out=tmp_path / "one", epochs=2, **_options(TINY), progress=False)
    assert_same_run(tmp_path / "nodes", single.path)
    # from two machines to one process and back to two machines
    vaekit.resume(tmp_path / "nodes", epochs=3, progress=False, report=False)
    two_nodes("--data", data, *flags, "--epochs", "4", "--out", tmp_path / "nodes", "--resume")
    whole = vaekit.train(data, out=tmp_path / "whole", epochs=4, **_options(TINY), progress=False)
    assert_same_run(tmp_path / "nodes", whole.path)


def test_a_run_on_one_machine_only_is_one_line_on_both_not_a_wait(data: Path, tmp_path):
    """`--resume` with the run folder on the first machine only: the second machine's process
    failed alone and the first waited for it until a timeout. Both now stop at once, the
    first saying which process failed and why, the second its own error."""
    first, second = tmp_path / "m0", tmp_path / "m1"
    second.mkdir()
    vaekit.train(data, out=first / "run", epochs=1, **_options(TINY), progress=False)
    done = launch_nodes(["--out", "run", "--resume", "--epochs", "2", "--quiet"],
                        cwds=(first, second), timeout=120)  # fmt: skip
    assert [d.returncode != 0 for d in done] == [True, True]
    assert "vaekit: error: process 1: run: no run to resume" in done[0].stderr
    assert "vaekit: error (process 1): run: no run to resume" in done[1].stderr
    assert len(read_metrics(first / "run")) == 2  # untouched: its epoch and final line
    # A copy that is not the first machine's (copied, then the run went on without it).
    shutil.copytree(first / "run", second / "run")
    vaekit.resume(first / "run", epochs=2, progress=False, report=False)
    done = launch_nodes(["--out", "run", "--resume", "--epochs", "3", "--quiet"],
                        cwds=(first, second), timeout=120)  # fmt: skip
    assert [d.returncode != 0 for d in done] == [True, True]
    assert "process 1: run: this machine's copy of the run is not the first" in done[0].stderr
    assert len(read_metrics(first / "run")) == 3
    # A new run whose data is on the first machine only: the same.
    shutil.copytree(data, first / "d")
    done = launch_nodes(["--data", "d", *TINY, "--out", "new", "--quiet"], cwds=(first, second),
                        timeout=120)  # fmt: skip
    assert [d.returncode != 0 for d in done] == [True, True]
    assert "vaekit: error: process 1: " in done[0].stderr, done[0].stderr[-2000:]
    assert "vaekit: error (process 1): " in done[1].stderr
    assert not (first / "new").exists()


def test_a_process_that_fails_alone_fails_every_process(monkeypatch):
    """Group.each: every process's verdict shared; the main process names the one that
    failed, the failing one raises its own error, the others a SharedError."""
    import torch.distributed as dist

    from vaekit.errors import VaekitError
    from vaekit.training.distributed import SharedError

    verdicts = [None, "no data here", None]
    monkeypatch.setattr(dist, "all_gather_object", lambda out, mine: out.__setitem__(
        slice(None), verdicts))  # fmt: skip

    def work(rank: int):
        def run():
            if verdicts[rank]:
                raise VaekitError(verdicts[rank])
            return "made"

        return run

    with pytest.raises(VaekitError, match=r"^process 1: no data here$") as main:
        Group(rank=0, world=3).each(work(0))
    assert not isinstance(main.value, SharedError)
    with pytest.raises(VaekitError, match=r"^no data here$") as own:
        Group(rank=1, world=3).each(work(1))
    assert not isinstance(own.value, SharedError)
    with pytest.raises(SharedError, match="process 1: no data here"):
        Group(rank=2, world=3).each(work(2))
    verdicts[1] = None
    assert [Group(rank=r, world=3).each(work(r)) for r in range(3)] == ["made"] * 3


def test_factorvae_trains_under_two_processes(data: Path, tmp_path: Path):
    """The objectives' batch estimates use each process's rows, so two processes do not give
    one process's numbers; they must still train, and keep the discriminator, whose gradients
    are averaged over the processes, in the checkpoint for an exact resume."""
    flags = [*TINY, "--epochs", "2", "--objective", "factorvae", "--binarize", "--quiet"]
    printed = torchrun(2, "--data", data, *flags, "--no-report", "--out", tmp_path / "two")
    assert printed.count("trained 2 epochs") == 1
    lines = [json.loads(s) for s in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["train"]["neg_elbo"]) for r in lines if "train" in r)
    state = load_file(str(tmp_path / "two" / "checkpoint" / "state.safetensors"))
    assert any(k.startswith("objective.critic.") for k in state)
    # one process goes on from the two processes' checkpoint, discriminator and all
    vaekit.resume(tmp_path / "two", epochs=3, progress=False, report=False)
    text = (tmp_path / "two" / "metrics.jsonl").read_text()
    records = [json.loads(s) for s in text.splitlines()]
    assert max(r.get("epoch", 0) for r in records) == 3


EACH_RANKS_CRITIC = """
import os, sys
from safetensors.torch import save_file
import vaekit
from vaekit.training import objectives

real = objectives.Discriminated.after_step

def after_step(self, generator, group, stepped):  # then this process's copy, kept
    real(self, generator, group, stepped)
    weights = {k: v.detach().clone().contiguous() for k, v in self.critic.state_dict().items()}
    save_file(weights, os.path.join(sys.argv[2], f"critic-{os.environ['RANK']}.safetensors"))

objectives.Discriminated.after_step = after_step
vaekit.train(sys.argv[1], out=os.path.join(sys.argv[2], "run"), model="mlp", hidden_dims=(16,),
             latent_dim=3, batch_size=15, epochs=2, objective="factorvae", binarize=True,
             progress=False, report=False)
# Leave the group, then the process, without the interpreter's teardown of gloo's threads:
# that teardown was now and then aborted in one process (SIGABRT, "terminate called without
# an active exception") after every file was written, about one run of the suite in seven.
from vaekit.training.distributed import _leave
_leave()
os._exit(0)
"""


def test_the_processes_discriminators_stay_the_same(data: Path, tmp_path: Path):
    """Each process trains its copy of the FactorVAE discriminator on its own rows: only
    its gradients averaged over the processes keep the copies one discriminator."""
    script = tmp_path / "each.py"
    script.write_text(EACH_RANKS_CRITIC)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", str(script), str(data), str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    zero, one = (load_file(str(tmp_path / f"critic-{r}.safetensors")) for r in (0, 1))
    assert zero.keys() == one.keys() and len(zero) > 0
    for key in zero:
        torch.testing.assert_close(zero[key], one[key], rtol=0, atol=1e-6)


def test_the_main_processs_error_is_said_once_and_another_processs_own_error_by_it(
    monkeypatch, capsys
):
    """Under torchrun the first process says its errors, which `on_main` raises on the others
    too; the first process of another machine says an error of its own (the run folder
    missing there, say), which the first process does not know."""
    from vaekit.cli import main as cli
    from vaekit.errors import VaekitError
    from vaekit.training.distributed import SharedError

    def failing() -> None:
        raise VaekitError("boom")

    monkeypatch.setattr(Group, "share", lambda self, value: (None, "boom"))  # as broadcast
    with pytest.raises(SharedError, match="boom"):
        Group(rank=1, world=2).on_main(failing)
    monkeypatch.setattr(Group, "share", lambda self, value: value)
    with pytest.raises(VaekitError, match="boom") as raised:
        Group(rank=0, world=2).on_main(failing)
    assert not isinstance(raised.value, SharedError)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")  # another process of the first machine: silent
    with pytest.raises(SystemExit, match="1"):
        cli.main(["train", "--out", "no-such-run", "--resume"])
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LOCAL_RANK", "0")  # the first process of another machine says it
    with pytest.raises(SystemExit, match="1"):
        cli.main(["train", "--out", "no-such-run", "--resume"])
    assert "vaekit: error (process 1): no-such-run: no run to resume" in capsys.readouterr().err

    def shared(args) -> int:
        raise SharedError("the first process's")

    monkeypatch.setattr(cli, "_run_reporting_pixels", shared)
    with pytest.raises(SystemExit, match="1"):
        cli.main(["train", "--out", "x"])
    assert capsys.readouterr().err == ""  # the first process says it


def test_a_process_of_the_group_lost_is_not_called_a_bug(monkeypatch):
    """gloo's or NCCL's error when another process died: one line saying so, and how a
    training run continues."""
    import argparse

    import torch.distributed as dist

    from vaekit.cli.main import one_line

    lost = RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer")
    args = argparse.Namespace(command="train", out="runs/k")
    assert "a bug in vaekit" in one_line(lost, args)  # no group: not this case
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    said = one_line(lost, args)
    assert said.startswith("another process of the group failed or was stopped ([../gloo")
    assert said.endswith("vaekit train --out runs/k --resume continues from its last saved epoch")
    assert "a bug in vaekit" in one_line(RuntimeError("shape mismatch"), args)
    # an NCCL error of this process's own (a GPU used twice) is not another's loss
    own = RuntimeError("NCCL error in: init.cc, invalid usage: Duplicate GPU detected")
    assert "another process" not in one_line(own, args)


@pytest.mark.parametrize("command", [["sample", "run", "-n", "2"], ["eval", "run"], ["tune"]])
def test_commands_other_than_train_refuse_torchrun_in_one_line(monkeypatch, capsys, command):
    """Under torchrun every process would run the command and write its files: refused,
    said once (by the first process)."""
    from vaekit.cli.main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, said in (("0", True), ("1", False)):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(SystemExit, match="1"):
            main([*command, "--out", "s"] if command == ["tune"] else command)
        err = capsys.readouterr().err
        line = f"vaekit: error: vaekit {command[0]} runs in one process: start it without torchrun"
        assert (line in err) is said and (err == "") is not said, err
