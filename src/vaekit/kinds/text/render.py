"""The text kind's render part: see vaekit.kinds.protocol."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from vaekit.errors import VaekitError
from vaekit.kinds.text import apps
from vaekit.report.curves import save_curves
from vaekit.report.html import caption, figure, table
from vaekit.report.view import Builder, RunView

# --- `vaekit eval`'s table (see vaekit.kinds.protocol, "render part") -------------------


def eval_nouns(report: dict) -> tuple[str, str]:
    """What the likelihood is for and what the data is, as `vaekit eval`'s table names them:
    "text lines" (a support of another kind's likelihood: its pixels)."""

    def noun(support: str) -> str:
        return "text lines" if support == "text" else f"{support} pixels"

    return noun(report["likelihood_support"]), noun(report["data_support"])


def eval_per_unit(report: dict, bound: str) -> str:
    """The bound ("elbo" or "iwae") per word, for the end of its line: a line's dimensions
    count padding positions, so per dimension would depend on the longest line (not shown,
    even where an older eval.json holds it)."""
    key = {"elbo": "neg_elbo_per_word", "iwae": "nll_per_word"}[bound]
    return f"   ({report['text'][key]:.4f} nats per word)"


def eval_lines(report: dict) -> list[str]:
    """`vaekit eval`'s lines after the bounds: the per-word numbers (eval.json's "text",
    vaekit.kinds.text.evaluate), in place of bits/dim; no reconstruction figure."""
    t = report["text"]
    return [
        f"  {'NLL per word':<24}{t['nll_per_word']:10.4f} nats   (IWAE, K={t['iw_samples']}; "
        f"{t['num_tokens']} tokens: {t['tokens_counted']})",
        f"  {'perplexity':<24}{t['perplexity']:10.2f}   (exp of the NLL per word; from the "
        f"ELBO: {t['perplexity_elbo']:.2f})",
        f"  {'KL per line':<24}{t['kl_per_line']:10.2f} nats{_kl_note(t)}",
    ]


def _kl_note(t: dict, form: str = "   ({})") -> str:
    """What the KL per line says, in `form`: nothing where the latent is used; posterior
    collapse under 1 nat; no latent at all for a language model."""
    if t.get("language_model"):
        return form.format("a language model: no latent")
    return form.format("under 1: posterior collapse") if t["kl_per_line"] < 1 else ""


def eval_rows(report: dict) -> list[tuple[str, float, None, str]]:
    """report.html's Evaluation rows beside the bounds: the per-word numbers `eval` prints."""
    t = report.get("text") or {}
    if "nll_per_word" not in t:
        return []
    counted = f"{t['num_tokens']} tokens: {t['tokens_counted']}"
    return [
        ("NLL per word", t["nll_per_word"], None, f"nats (IWAE, K={t['iw_samples']}; {counted})"),
        ("perplexity", t["perplexity"], None, "exp of the NLL per word"),
        ("KL per line", t["kl_per_line"], None, "nats" + _kl_note(t, "; {}")),
    ]


# --- the command line's outputs (see vaekit.kinds.protocol, "render part") ---------------

# The commands with a flow of the kind's own at the command line (its cli part,
# vaekit.kinds.text.cli): each reads and writes sentences.
FLOWS = ("sample", "reconstruct", "interpolate", "anomaly", "embed")


def sentences(model: Any, lines: torch.Tensor) -> list[str]:
    """Lines of token indices (B, 1, 1, T) -> their sentences, in the model's vocabulary."""
    vocab = model.schema
    return [vocab.decode(line) for line in lines.reshape(len(lines), -1).tolist()]


def write_lines(out, text: list[str]) -> None:
    """Sentences as a UTF-8 text file at `out`, one a line, written atomically."""
    from vaekit.files import atomic_write

    atomic_write(out, lambda p: p.write_text("".join(t + "\n" for t in text), "utf-8"))


# --- the report and the compare page (see vaekit.kinds.protocol, "render part") -----------
# Sentences in place of pictures: sample sentences (greedy and sampled decodings of prior
# draws), test lines beside their reconstructions, an interpolation between two test lines.
# Every draw is seeded with the run's seed.

SHOWN = 10  # sentences per table


def report_sections(model: Any, shared: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
    """The report's sections of a text model: sentences, not pictures, then `shared`."""
    return [
        ("Sample sentences", samples_section),
        ("Reconstructions", reconstructions_section),
        ("Interpolation", interpolation_section),
        *shared,
    ]


def samples_section(run: RunView) -> str:
    vae = run.model.vae
    greedy = apps.sample(vae, SHOWN, torch.Generator().manual_seed(run.seed))
    drawn = apps.sample(vae, SHOWN, torch.Generator().manual_seed(run.seed), "sample")
    rows = zip(sentences(run.model, greedy), sentences(run.model, drawn), strict=True)
    text = (f"{SHOWN} prior draws z ~ p(z) (seed {run.seed}), each decoded greedily and by "
            "sampling every word (temperature 1)")  # fmt: skip
    return table(("greedy", "sampled"), rows) + caption(text)


def reconstructions_section(run: RunView) -> str:
    test = run.need_test()
    x = run.model.prepare(test.images[:SHOWN])
    made = apps.reconstruct(run.model.vae, x)
    rows = zip(sentences(run.model, x), sentences(run.model, made), strict=True)
    text = f"the first {len(x)} test lines (as the vocabulary reads them) and the greedy "
    text += "decoding of their posterior means"
    return table(("input", "reconstruction"), rows) + caption(text)


def interpolation_section(run: RunView) -> str:
    test = run.need_test()
    if len(test) < 2:
        raise VaekitError("the test split holds fewer than two lines")
    x = run.model.prepare(test.images[:2])
    path = apps.interpolate(run.model.vae, x[:1], x[1:], 8)
    rows = [(i, line) for i, line in enumerate(sentences(run.model, path))]
    text = "greedy decodings along the straight line between the posterior means of the "
    text += "first two test lines"
    return table(("step", "sentence"), rows) + caption(text)


def compare_samples(model: Any, name: str, seed: int) -> str:
    """4 sentences of `model`, greedy decodings of prior draws (seed `seed`), as one figure of
    the compare page captioned `name`."""
    vocab = model.schema
    lines = model.sample(4, seed=seed).reshape(4, -1).long().tolist()
    return figure(table(("sample",), [(vocab.decode(line),) for line in lines]), name)


def schema_shown(schema: Any, checksum: bool = False) -> Any:
    """config.json's model.schema as a page shows it: the vocabulary by its size, not its
    thousands of words; with `checksum` (the compare page) by its size and the sha256 of its
    words too, so that two vocabularies of one size are told apart."""
    if not isinstance(schema, dict) or not isinstance(schema.get("tokens"), list):
        return schema
    tokens = schema["tokens"]
    shown = f"{len(tokens)}"
    if checksum:
        digest = hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:12]
        shown = f"{len(tokens)} words, sha256 {digest}"
    return {**schema, "tokens": shown}


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def pictures(
    model: Any, test: Any, history: list[dict[str, Any]], files: dict[str, Path], seed: int
) -> dict[str, Path]:
    """files["curves"] only: lines are no pictures (`vaekit sample` prints sentences)."""
    given = "language model" if model.config.schema["language_model"] else "sentence VAE"
    save_curves(history, files["curves"], title=f"GRU {given}")
    return {"curves": files["curves"]}


def info_lines(info: dict[str, Any]) -> list[str]:
    """`vaekit data info`'s lines for a text file, after its name: its lines and splits,
    those dropped as too long, the vocabulary, each split's tokens, and the checksum."""
    tokens, unknown, dropped = info["tokens"], info["unknown_tokens"], info["dropped_long"]
    lines = [
        f"  text: {info['num_lines']} non-blank lines; {info['num_train']} train / "
        f"{info['num_test']} test kept (carved: {info['test_carved']})",
        f"  dropped as longer than --max-length {info['max_length']} tokens: "
        f"{dropped['train']} train, {dropped['test']} test lines",
        f"  vocabulary {info['vocab_size']} entries (4 special: <pad> <bos> <eos> <unk>), "
        f"from the training lines; most frequent: {' '.join(info['most_frequent'])}",
    ]
    for name in ("train", "test"):
        share = unknown[name] / max(tokens[name], 1)
        words = info["words_per_line"][name]
        lines.append(f"  {name:<5} {tokens[name]:>9} tokens (no <eos>), {share:.2%} <unk>; words "
                     f"per line: mean {words['mean']:.1f}, max {words['max']}")  # fmt: skip
    lines.append(f"  content sha256 {info['sha256']}")
    return lines
