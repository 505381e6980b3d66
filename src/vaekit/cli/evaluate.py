"""`vaekit eval`: the numbers that judge a run, as a table and as JSON."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from vaekit.cli.options import add_device, add_rundir, add_seed, checked_device, positive_int
from vaekit.cli.output import add_overwrite

if TYPE_CHECKING:
    from vaekit.kinds.base import Kind

# Examples decoded at once (batch x importance samples): a bound on memory, well above what a
# GPU needs to be busy, far below what would exhaust one.
MAX_DECODES = 2**18

# eval.json's split "all": a series not the run's own, every window of it scored
WHICH = {"all": "every window (not the run's own series: all of it is scored)"}
DESCRIPTION = """Evaluate a run's model on its test split (or another split, or other data) and
write the numbers to RUNDIR/eval.json (or --json FILE):

  -ELBO               reconstruction (distortion) + KL (rate), nats per example and per dim
                      (text: per word, not per dim, whose count includes padding), the
                      reconstruction averaged over the K importance samples
  NLL                 -log p(x) estimated by importance sampling with K samples (the IWAE
                      bound: an upper bound on the NLL that tightens as K grows), with its
                      standard error across examples; a VQ-VAE's is its own bound instead,
                      labelled so: -log p(x|z_q) - log p(z_q) with the code prior of `vaekit
                      fit-prior`, else -log p(x|z_q) + h w log K (the uniform prior), with
                      both terms on the lines below it (in bits/dim too, for binary or 8-bit
                      data modelled by a discrete likelihood)
  bits/dim            NLL / (D ln 2), only for a discretized likelihood over 8-bit values
  reconstruction      MSE and PSNR of the posterior-mean reconstruction (audio: the
                      log-spectral distance of the log-mel spectrograms, in dB, see README;
                      --no-reconstruction skips it)
  latents             KL per latent dimension (per layer for hvae) and the active units
                      (variance over x of E_q[z_i] above 0.01, Burda et al. 2016); a KL
                      under 1 nat per example gets a warning: the latent is barely used
  probe               accuracy of a logistic regression on posterior means (train -> eval
                      split), where the data has labels (not for a conditional model, whose
                      features are computed from the label)
  disentanglement     with --factors: MIG, SAP, DCI and the FactorVAE score of the posterior
                      means against the data's known generative factors (dsprites), or
                      against --factors FILE.npy, integer codes (N, K) for the split in order

A conditional model's numbers are conditional on the label: -log p(x|y), not -log p(x); the
table and eval.json ("conditional_on_label") say so. Numbers that come out NaN or infinite
are written as null and named in "not_finite", with a warning.

The JSON also records which weights were judged: weights_sha256, the sha256 of
RUNDIR/model.safetensors.

Where the likelihood cannot model the data (Bernoulli on gray pixels, a Gaussian on 8-bit
values) the numbers are an objective, not a log-likelihood, and the table says so. A run
trained with --binarize is scored on one fixed binarization of the split (seeded)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="ELBO, importance-weighted NLL, bits/dim, latent health, probe accuracy",
        description=DESCRIPTION,
        epilog="examples:\n  vaekit eval runs/fm\n  vaekit eval runs/fm --iw-samples 5000 "
        "--max-examples 2000\n  vaekit eval runs/fm --data mnist --json mnist-eval.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument(
        "--split", choices=("test", "val", "train"), default="test", help="(default: test)"
    )
    p.add_argument("--data", metavar="NAME|PATH", help="evaluate on this dataset instead")
    p.add_argument(
        "--iw-samples",
        type=positive_int,
        default=1000,
        metavar="K",
        help="importance samples per example for the IWAE bound; the ELBO's terms are "
        "averaged over the same K (default: 1000)",
    )
    p.add_argument(
        "--max-examples",
        type=positive_int,
        metavar="N",
        help="score a fixed, seeded subset of N examples (recorded in the JSON)",
    )
    add_seed(p, from_run=True, why=", with which its metrics.jsonl test line was computed: "
             "at --iw-samples 1 the -ELBO is the same")  # fmt: skip
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        metavar="B",
        help="examples per batch; with --chunk sets the memory used, not the numbers "
        f"(default: 128; B x min(CHUNK, K) at most {MAX_DECODES})",
    )
    p.add_argument(
        "--chunk",
        type=positive_int,
        default=64,
        help="importance samples decoded at once per example (default: 64)",
    )
    p.add_argument("--no-probe", action="store_true", help="skip the logistic-regression probe")
    p.add_argument(
        "--factors",
        nargs="?",
        const=True,
        metavar="FILE.npy",
        help="also score disentanglement (MIG, SAP, DCI, FactorVAE score) against the data's "
        "known factors (dsprites), or against FILE.npy: integer factor codes (N, K) for the "
        "evaluated split, in its order",
    )
    p.add_argument(
        "--no-reconstruction",
        action="store_true",
        help="skip the reconstruction error: with a PixelCNN decoder (--autoregressive) the "
        "posterior-mean reconstruction is decoded pixel by pixel, most of the evaluation's time",
    )
    add_device(p)
    p.add_argument(
        "--json",
        metavar="FILE.json",
        help="write the JSON here, refused where it exists unless --overwrite (default: "
        "RUNDIR/eval.json, the run's own record, which each eval replaces, and rewrites the "
        "run's model card, RUNDIR/README.md, with it; report.html shows it once `vaekit "
        "report RUNDIR` writes the page again)",
    )
    p.add_argument(
        "--per-example",
        metavar="FILE.csv",
        help="also write each example's -ELBO and NLL (index into the split, then the two "
        "numbers; the column is neg_iwae where the bound is no log-likelihood, as the table "
        "says): two runs scored with the same --split, --max-examples and --seed score the "
        "same examples, so the CSVs pair up for a paired comparison",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite(p, together=False)  # (the card reads eval.json back)
    p.set_defaults(run=run, writes_in_run="eval.json")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from vaekit.api.evaluate import evaluate, record_eval
    from vaekit.api.run import EVAL_FILE, run_kind
    from vaekit.cli.output import Outputs
    from vaekit.errors import VaekitError
    from vaekit.files import save_csv
    from vaekit.progress import Bars

    checked_device(args)  # an unavailable device is refused before any work
    # RUNDIR/eval.json is the run's own, rewritten by each `vaekit eval`; files given are
    # the user's, and not replaced without --overwrite.
    outputs = Outputs(args)
    out = outputs.file(args.json, "", ".json") if args.json else Path(args.rundir) / EVAL_FILE
    rows = outputs.file(args.per_example, "", ".csv") if args.per_example else None
    outputs.claim()
    decodes = args.batch_size * min(args.chunk, args.iw_samples)
    if decodes > MAX_DECODES:
        raise VaekitError(
            f"--batch-size {args.batch_size} x --chunk {min(args.chunk, args.iw_samples)} would "
            f"decode {decodes} examples at once; at most {MAX_DECODES}: lower either (they set "
            "the memory used, not the numbers)"
        )
    # Opened on the first report, so an early error prints nothing else.
    bars = Bars(unit=run_kind(args.rundir).unit)
    desc = f"evaluating (K={args.iw_samples})"

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            bars.update(desc, done, total)

    with bars:
        report = evaluate(
            args.rundir,
            args.data,
            split=args.split,
            iw_samples=args.iw_samples,
            max_examples=args.max_examples,
            batch_size=args.batch_size,
            chunk=args.chunk,
            seed=args.seed,
            probe=not args.no_probe,
            reconstruction=not args.no_reconstruction,
            device=args.device,
            progress=progress,
            per_example=rows is not None,
            factors=args.factors,
        )
    report["rundir"] = str(args.rundir)
    each = report.pop("per_example", None)
    record_eval(args.rundir, report, out)  # eval.json, and the run's model card with it
    print(render(report))
    for key in report["not_finite"]:
        print(f"vaekit: warning: {key} is not a finite number (null in the JSON)", file=sys.stderr)
    for warning in report.get("warnings", []):
        print(f"vaekit: warning: {warning}", file=sys.stderr)
    if rows is not None:
        # The bound is -log p(x) only where the likelihood models the data: else -IWAE_K.
        bound = "nll" if "nll" in each else "neg_iwae"
        lines = list(zip(each["index"], each["neg_elbo"], each[bound], strict=True))
        save_csv(rows, ["index", "neg_elbo", bound], lines)
        print(f"wrote {rows} ({len(lines)} examples; {bound} with K={report['iwae']['k']})")
    print(f"wrote {out}")
    return 0


def report_kind(r: dict[str, Any]) -> Kind:
    """The kind of data an evaluation report is of, which says how its own lines read.
    eval.json's "data_kind" names it by the kind's name, or by its noun where eval.json has
    always said so ("images")."""
    from vaekit.errors import VaekitError
    from vaekit.kinds.base import kind, kind_names

    named = r.get("data_kind")
    kinds = [kind(name) for name in kind_names()]
    # By name first: a kind's noun could be another kind's name.
    for field in ("name", "noun"):
        for found in kinds:
            if getattr(found, field) == named:
                return found
    raise VaekitError(f"this report's data_kind {named!r} is no known kind of data")


def per_dim(r: dict[str, Any], bound: str) -> str:
    """The bound ("elbo" or "iwae") per dimension, for the end of its line, where the report
    has it: what a kind that says nothing else (no render part eval_per_unit) shows."""
    value = r[bound].get({"elbo": "loss_per_dim", "iwae": "nll_per_dim"}[bound])
    return "" if value is None else f"   ({value:.4f} nats/dim)"


def render(r: dict[str, Any]) -> str:
    """The report as a table for the terminal."""
    from vaekit.evaluation.evaluate import bound_label

    # What is particular to the kind of data: how it is named, its figures' lines.
    part = report_kind(r).part("render")
    likelihood_noun, data_noun = part.eval_nouns(r)
    per_unit = getattr(part, "eval_per_unit", per_dim)
    objective = r["kind"] == "objective"
    given = r.get("conditional_on_label")
    subset = f", a seeded subset of {r['num_examples']}" if "subset" in r else ""
    binarized = f", binarized once (seed {r['binarized']['seed']})" if "binarized" in r else ""
    e, iw, lat = r["elbo"], r["iwae"], r["latents"]
    iw_label = bound_label(r)
    lines = [
        f"{r['data']}: {WHICH.get(r['split'], r['split'] + ' split')}, {r['split_size']} "
        f"example{'' if r['split_size'] == 1 else 's'}{subset}{binarized}",
        f"likelihood {r['likelihood']} (for {likelihood_noun}) on {data_noun}: "
        + (
            "an objective, NOT a log-likelihood (the likelihood cannot model this data)"
            if objective
            else "a normalized log-likelihood"
        ),
        *(
            ["conditional model: every number is conditional on the label, -log p(x|y)"]
            if given
            else []
        ),
        "",
        f"  {'-ELBO':<24}{e['loss']:10.2f}{_pm(e['stderr'])} nats{per_unit(r, 'elbo')}",
        f"    {'distortion (rec)':<22}{e['rec']:10.2f}",
        f"    {'rate (KL)':<22}{e['kl']:10.2f}",
        f"  {iw_label:<23} {iw['nll']:9.2f}{_pm(iw['stderr'])} nats{per_unit(r, 'iwae')}",
    ]
    for term in r.get("bound_terms", []):  # the terms of a family's own bound (a VQ-VAE's)
        bits = term["bits_per_dim"]
        shown = "" if bits is None else f"   ({bits:.4f} bits/dim)"
        lines.append(f"    {term['name']:<21} {term['nats']:9.2f}{shown}   {term['note']}")
    lines += part.eval_lines(r)
    lines += [
        f"  {'active units':<24}{_count(lat['active_units']):>4} of {lat['latent_dim']}"
        f"   (variance of E_q[z] > {lat['active_threshold']}"
        + (")" if lat["active_units"] is not None else "; one example has none)"),
    ]
    if lat["kl_per_dim"] is not None:
        # Named (z3 is eval.json's kl_per_dim[3]), the largest first.
        kl = lat["kl_per_dim"]
        ranked = sorted(range(len(kl)), key=lambda d: -kl[d])[:10]
        lines.append(
            f"  {'KL per latent dim':<24}"
            + ", ".join(f"z{d} {kl[d]:.2f}" for d in ranked)
            + (f", ... (the largest 10 of {len(kl)})" if len(kl) > 10 else "")
        )
    if "kl_layers" in lat:
        lines.append(
            f"  {'KL per layer':<24}"
            + " ".join(f"{v:.2f}" for v in lat["kl_layers"])
            + "   (bottom layer first)"
        )
    if "probe" in r and "skipped" in r["probe"]:
        lines.append(f"  {'probe accuracy':<24}{'—':>10}   (skipped: {r['probe']['skipped']})")
    elif "probe" in r:
        p = r["probe"]
        lines.append(
            f"  {'probe accuracy':<24}{p['accuracy']:10.4f}   (logistic regression on posterior "
            f"means, {p['train_examples']} training examples)"
        )
    if "disentanglement" in r:
        lines += disentanglement_lines(r["disentanglement"])
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def _pm(stderr: Any) -> str:
    """ " ± 0.12", or where one example gives no standard error (NaN, null in the JSON) a
    dash, not "± nan"."""
    if isinstance(stderr, int | float) and math.isfinite(stderr):
        return f" ± {stderr:.2f}"
    return " ± —   "


def disentanglement_lines(d: dict[str, Any]) -> list[str]:
    """The disentanglement metrics' lines of the table (eval.json's "disentanglement")."""
    dci = d["dci"]
    return [
        f"  disentanglement of the posterior means, {d['examples']} examples, factors "
        + ", ".join(d["factors"]),
        f"    {'MIG':<22}{d['mig']['mig']:10.4f}   (Chen et al. 2018, {d['mig']['bins']} bins)",
        f"    {'SAP':<22}{d['sap']['sap']:10.4f}   (Kumar et al. 2018)",
        f"    {'DCI disentanglement':<22}{dci['disentanglement']:10.4f}   (Eastwood and "
        "Williams 2018)",
        f"    {'DCI completeness':<22}{dci['completeness']:10.4f}",
        f"    {'DCI informativeness':<22}{dci['informativeness']:10.4f}   (test accuracy)",
        f"    {'FactorVAE score':<22}{d['factor_vae']['factor_vae_score']:10.4f}   "
        + _factor_vae_note(d["factor_vae"]),
    ]


def _factor_vae_note(scored: dict[str, Any]) -> str:
    """The FactorVAE score's source, or why it is 0: no latent varies enough to vote (all
    collapsed), where the reference protocol scores 0, under the chance level."""
    if scored.get("active_latents") == 0:
        return "(no active latent to vote: 0 by the protocol, not a measured score)"
    return "(Kim and Mnih 2018)"
