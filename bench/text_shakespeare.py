"""Sentences: the sentence VAE against the same decoder trained as a plain language model.

Data: tinyshakespeare's input.txt (40,000 lines; the non-blank ones are the sentences). Both
models are trained with `vaekit.train` on the same file with the same seed, so they see the
same held-out 10% of the lines (vaekit's seeded test split), the same vocabulary (built from
the other 90%) and the same validation share; lines of more than --max-length tokens are
dropped from both (counted in the results).

- vae: the sentence VAE (Bowman et al. 2016) with word dropout 0.25 and free bits 0.1 nats
  per latent dimension (text's defaults; --word-dropout, --free-bits) and KL warm-up over
  --kl-warmup steps (800 here, about two epochs at batch 64, in place of the default 2,000,
  so that most of the short run trains the true objective).
- lm: `language_model=True`, the same GRU decoder with no latent (KL 0, its ELBO is its exact
  log-likelihood), without word dropout (which only handicaps a model without a latent).

Each trains --epochs epochs (optionally within --budget of wall time: vaekit's own time
budget, which stops before an epoch that would end past it), on one CPU thread (the machine's
two cores are shared). Each is scored on the held-out lines by `vaekit.evaluate`: the VAE's NLL
is the importance-weighted bound with K samples (an upper bound on its true NLL), the LM's is
exact (K = 1 suffices). Reported per line and per word (words and <eos>), the perplexity,
and the VAE's KL per line. Results to bench/results/text-shakespeare.json.

    PYTHONPATH=src .venv/bin/python bench/text_shakespeare.py [--data PATH] [--epochs 4]
        [--kl-warmup 800] [--budget none] [--out runs/bench-text] [--iw-samples 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import vaekit

DATA = "/work/shared/data/tinyshakespeare/input.txt"
COMMON = {
    "vocab_size": 5000,
    "max_length": 30,
    "latent_dim": 32,
    "embed_dim": 128,
    "rnn_hidden": 256,
    "batch_size": 64,
    "lr": 1e-3,
    "seed": 0,
}
MODELS = {"lm": {"language_model": True, "word_dropout": 0.0}}


def measures(iw_samples: int) -> dict:
    """What the results' numbers are, recorded beside them (the counts are in each model's
    `text`: num_lines, num_tokens)."""
    return {
        "split": "test: vaekit's test split of the file, 10% of its non-blank lines carved with "
        "seed 0 (not an official split; the vocabulary is built from the other 90%), lines of "
        "more than max_length tokens dropped (data_info.dropped_long); all of its lines scored",
        "iw_samples": {"vae": iw_samples, "lm": 1},
        "tokens": "a line's tokens are its words and the end-of-line token (<eos>); the per-word "
        "figures are the sum over lines divided by text.num_tokens",
        "text": {
            "nll_per_line": f"vae: -IWAE bound with K={iw_samples} (an upper bound on the "
            "line's -log p(x)); lm: its exact -log p(x) (no latent, K=1); nats per line",
            "nll_per_word": "nll_per_line's sum over the lines / text.num_tokens, nats per word",
            "perplexity": "exp(nll_per_word)",
            "elbo_per_line": "the ELBO (not negated), nats per line, its terms averaged over "
            "the same K posterior samples as nll_per_line",
            "neg_elbo_per_word": "-ELBO's sum over the lines / text.num_tokens, nats per word",
            "perplexity_elbo": "exp(neg_elbo_per_word)",
            "kl_per_line": "KL(q(z|x) || p(z)), nats per line (0 for the lm)",
        },
        "history": "train: the epoch's mean of the training steps' own terms; val: -ELBO (one "
        "posterior sample per line, eval mode) on the validation part, 10% of the training "
        "lines carved with seed 0; nats per line",
        "targets": "differences and comparisons of the text figures above, nats per line",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--kl-warmup", type=int, default=800)
    parser.add_argument("--budget", default="none", help="wall-time budget per model's training")
    parser.add_argument("--iw-samples", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench-text")
    parser.add_argument("--results", default="bench/results/text-shakespeare.json")
    parser.add_argument("--word-dropout", type=float, default=0.25, help="the VAE's")
    parser.add_argument(
        "--free-bits",
        type=float,
        help="the VAE's, in nats per latent dimension (default: text's default, 0.1; 0: off)",
    )
    parser.add_argument("--lm-from", metavar="FILE.json",
                        help="take the LM's figures from this earlier results file instead of "
                        "training it again (same data and options)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = {
        "data": args.data,
        "options": {
            **COMMON,
            "epochs": args.epochs,
            "time_budget": args.budget,
            "kl_warmup_vae": args.kl_warmup,
            "word_dropout_vae": args.word_dropout,
            "free_bits_vae": "text's default" if args.free_bits is None else args.free_bits,
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "measures": measures(args.iw_samples),
        "models": {},
    }
    models: dict[str, dict] = {"vae": {"word_dropout": args.word_dropout}}
    if args.free_bits is not None:
        models["vae"]["free_bits"] = args.free_bits
    if args.lm_from:
        earlier = json.loads(Path(args.lm_from).read_text())
        results["models"]["lm"] = {**earlier["models"]["lm"], "from": args.lm_from}
    else:
        models["lm"] = MODELS["lm"]
    for name, extra in models.items():
        started = time.perf_counter()
        run = vaekit.train(
            args.data,
            out=f"{args.out}/{name}",
            overwrite=True,
            epochs=args.epochs,
            time_budget=None if args.budget == "none" else args.budget,
            kl_warmup=0 if extra.get("language_model") else args.kl_warmup,
            progress=False,
            report=False,
            **COMMON,
            **extra,
        )
        trained = time.perf_counter() - started
        k = 1 if extra.get("language_model") else args.iw_samples
        started = time.perf_counter()
        report = vaekit.evaluate(run.model, iw_samples=k, probe=False)
        scored = time.perf_counter() - started
        results["models"][name] = {
            "options": extra,
            "train_s": round(trained, 1),
            "eval_s": round(scored, 1),
            "epochs": len(run.history),
            "history": [
                {k: r.get(k) for k in ("epoch", "time_s", "train", "val")} for r in run.history
            ],
            "stopped_by_budget": run.stopped_by_budget,
            "free_bits": run.config["training"]["free_bits"],
            "text": report["text"],
            "active_units": report["latents"]["active_units"],
            "warnings": report["warnings"],
        }
        results["data_info"] = {
            key: run.config["data"][key]
            for key in (
                "num_lines",
                "num_train",
                "num_test",
                "vocab_size",
                "dropped_long",
                "tokens",
                "unknown_tokens",
            )
        }
        print(name, json.dumps(results["models"][name]), flush=True)
    vae, lm = results["models"]["vae"]["text"], results["models"]["lm"]["text"]
    results["targets"] = {
        "vae_nll_minus_lm_nll_per_line": vae["nll_per_line"] - lm["nll_per_line"],
        "vae_kl_per_line": vae["kl_per_line"],
        "nll_within_kl": vae["nll_per_line"] - lm["nll_per_line"] <= vae["kl_per_line"],
        "kl_at_least_2": vae["kl_per_line"] >= 2.0,
    }
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["targets"], indent=2))


if __name__ == "__main__":
    main()
