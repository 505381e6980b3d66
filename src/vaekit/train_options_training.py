"""The options of `vaekit train` that say how a model is fitted: the objective, the
optimization and the run directory.

Part of the one declaration of every training option (vaekit.train_options).
"""

from __future__ import annotations

from vaekit.components import LR_SCHEDULES, OBJECTIVES, OPTIMIZERS, ComponentName
from vaekit.options import Duration, Flag, Float, Int, Names, Option, Text

OBJECTIVE_OPTIONS = [
    Option(
        "beta",
        Float(),
        1.0,
        "weight of the KL term: beta-VAE (Higgins et al. 2017); the metrics stay the plain -ELBO",
        "objective",
        section="training",
        metavar="B",
    ),
    Option(
        "kl_warmup",
        Int(least=0),
        0,
        "raise the KL weight linearly from 0 to --beta over this many optimizer steps "
        "(Bowman et al. 2016; Sonderby et al. 2016); 0 is off",
        "objective",
        section="training",
        metavar="STEPS",
    ),
    Option(
        "free_bits",
        Float(),
        0.0,
        "free bits: each latent dimension's batch-mean KL counts as at least this many "
        "nats, so it is not pushed below it (Kingma et al. 2016); 0 is off",
        "objective",
        section="training",
        metavar="NATS",
    ),
    Option(
        "iw_train",
        Int(least=1),
        1,
        "train on the importance-weighted bound with K samples: the IWAE (Burda et al. "
        "2016); the metrics then report -IWAE_K beside -ELBO, and the loss and early stopping "
        "use -IWAE_K; 1 is the ELBO",
        "objective",
        section="training",
        metavar="K",
    ),
    # --objective and each objective's own settings (the registry OBJECTIVES names which are
    # whose: one objective's given with another is refused, vaekit.training.loop.TrainConfig).
    Option(
        "objective",
        ComponentName(OBJECTIVES),
        "elbo",
        OBJECTIVES.help() + "; the metrics stay the plain -ELBO",
        "objective",
        section="training",
    ),
    Option(
        "tc_weight",
        Float(),
        6.0,
        "--objective tcvae: the weight B of the total correlation, the loss being rec + KL + "
        "(B - 1) x TC (Chen et al. 2018's decomposition with alpha = gamma = 1; 1 is the VAE)",
        "objective",
        section="training",
        metavar="B",
    ),
    Option(
        "tc_estimator",
        Text(("mws", "mss")),
        "mws",
        "--objective tcvae: how log q(z) is estimated from the batch, mws (minibatch-weighted "
        "sampling) or mss (minibatch-stratified sampling, which weights each example's own "
        "posterior by 1 / N, N the size of the training split)",
        "objective",
        section="training",
    ),
    Option(
        "factor_weight",
        Float(),
        35.0,
        "--objective factorvae: gamma, the weight of the discriminator's estimate of the "
        "total correlation (Kim & Mnih 2018 use 35 on dSprites)",
        "objective",
        section="training",
        metavar="G",
    ),
    Option(
        "critic_lr",
        Float(positive=True),
        1e-4,
        "--objective factorvae: the learning rate of the discriminator's Adam (betas 0.5, "
        "0.9, as Kim & Mnih 2018)",
        "objective",
        section="training",
        metavar="LR",
    ),
    Option(
        "mmd_weight",
        Float(),
        1000.0,
        "--objective infovae: lambda, the weight of the MMD between q(z) and p(z). The MMD of "
        "a batch is of order 1e-3 to 1e-1 while the loss is in nats per example (hundreds "
        "for images), so a weight in the thousands makes a mismatch cost about as much as "
        "the KL does",
        "objective",
        section="training",
        metavar="L",
    ),
    Option(
        "mmd_kernel",
        Text(("rbf", "imq")),
        "rbf",
        "--objective infovae: the MMD's kernel, rbf exp(-|x - y|^2 / S) or imq, the inverse "
        "multiquadratic S / (S + |x - y|^2) that WAE-MMD uses (Tolstikhin et al. 2018)",
        "objective",
        section="training",
    ),
    Option(
        "mmd_scale",
        Float(),
        0.0,
        "--objective infovae: the kernel's scale S; 0 is 2 x the latent dimensions, the "
        "2 Z sigma^2 of Tolstikhin et al. 2018 for a prior of unit variance",
        "objective",
        section="training",
        metavar="S",
    ),
]

TRAINING_OPTIONS = [
    Option(
        "epochs",
        Int(least=1),
        10,
        "passes over the training split, in all",
        "training",
        section="training",
        resumable=True,
    ),
    Option(
        "batch_size",
        Int(least=1),
        128,
        "examples per step",
        "training",
        section="training",
        metavar="B",
    ),
    Option("lr", Float(positive=True), 1e-3, "learning rate", "training", section="training"),
    Option(
        "lr_schedule",
        ComponentName(LR_SCHEDULES),
        "constant",
        LR_SCHEDULES.help(),
        "training",
        section="training",
    ),
    Option(
        "clip_grad",
        Float(positive=True),
        None,
        "clip the gradients' global norm to NORM",
        "training",
        section="training",
        optional=True,
        metavar="NORM",
    ),
    Option(
        "rollback_after",
        Int(least=1),
        10,
        "a step whose loss or gradient is NaN or infinite is skipped (no update); after N "
        "such steps in a row, training goes back to the last checkpoint (the end of the last "
        "finished epoch) with half the learning rate",
        "training",
        section="training",
        metavar="N",
    ),
    Option(
        "max_rollbacks",
        Int(least=0),
        3,
        "stop with an error when an epoch still cannot finish after N rollbacks",
        "training",
        section="training",
        metavar="N",
    ),
    Option(
        "patience",
        Int(least=1),
        None,
        "early stopping: stop after EPOCHS epochs without a better validation loss; "
        "model.safetensors then holds the best validation epoch's weights",
        "training",
        section="training",
        optional=True,
        metavar="EPOCHS",
    ),
    Option(
        "time_budget",
        Duration(),
        None,
        "train for at most this long (90s, 15m, 1h30m): after each epoch, training stops when "
        "the next epoch would end past the budget, judged by the mean time of this command's "
        "epochs so far, and an epoch that would itself end past it is cut short; --epochs "
        "stays the upper limit, and early stopping and best-epoch weights work as without it. "
        "A resumed run gets the budget afresh",
        "training",
        section="training",
        optional=True,
        resumable=True,
    ),
    Option(
        "ema",
        Float(below=1.0),
        0.0,
        "Polyak averaging: keep an exponential moving average of the weights, "
        "avg = DECAY * avg + (1 - DECAY) * weights after every optimizer step, and use it for "
        "validation, test and the saved model (often smoother and better than the last "
        "step's weights); 0.999 averages over about the last 1,000 steps; 0 is off",
        "training",
        section="training",
        metavar="DECAY",
    ),
    Option(
        "optimizer",
        ComponentName(OPTIMIZERS),
        "adam",
        OPTIMIZERS.help(),
        "training",
        section="training",
    ),
    Option(
        "seed",
        Int(least=-(2**63), most=2**64 - 1),  # what torch.Generator.manual_seed takes
        0,
        "seeds the splits, the initial weights and every random draw; each step's draws "
        "come from (seed, step), so a resumed run repeats them exactly",
        "training",
        section="training",
    ),
    Option(
        "precision",
        Text(("fp32", "bf16", "fp16", "auto")),
        "fp32",
        "what the training steps compute in: fp32; bf16, bfloat16 autocast on CUDA GPUs and on "
        "CPUs with native bfloat16 (AVX512-BF16, AMX; fp32 with a notice elsewhere); fp16, "
        "float16 autocast with a gradient scaler, CUDA only; auto, bf16 where native, fp16 on "
        "other GPUs, else fp32. Reported numbers are always computed in fp32",
        "training",
        section="training",
        resumable=True,
    ),
    Option(
        "device",
        Text(),
        "auto",
        "auto (CUDA when present, else Apple's MPS, else the CPU), cpu, cuda, cuda:N or mps",
        "training",
        section="training",
        resumable=True,
    ),
]

RUN_OPTIONS = [
    Option(
        "out",
        Text(),
        None,
        "run directory to create (default: runs/<data>-<model>-<date>-<time>)",
        "run",
        optional=True,
        metavar="RUNDIR",
        show_default=False,
    ),
    Option(
        "report",
        Flag(),
        True,
        "write RUNDIR/report.html at the end of training: configuration, curves, samples, "
        "reconstructions and latent pictures (see `vaekit report`); recorded, so a resumed "
        "run keeps the choice unless given again",
        "run",
        section="training",
        resumable=True,
    ),
    Option(
        "log",
        Names(of=("tensorboard", "mlflow"), repeatable=True, none=True),
        None,
        "also log the run to TensorBoard or MLflow (repeatable, or tensorboard,mlflow): each "
        "epoch's train and validation -ELBO, rec and KL, the validation KL per latent "
        "dimension, the learning rate and time; at the end the test figures and the pictures "
        "(MLflow also gets the options as parameters, and the model files and report.html as "
        "artifacts). tensorboard: event files in RUNDIR/tensorboard (`tensorboard --logdir "
        "runs` shows every run); mlflow: a run in the store MLFLOW_TRACKING_URI names, else "
        "MLflow's own default in the current folder (./mlflow.db, artifacts in ./mlruns), "
        "experiment vaekit (or MLFLOW_EXPERIMENT_NAME). Recorded: --resume continues the same "
        "TensorBoard and MLflow runs (in the store the run began in) unless --log is given "
        "again (--log none: no tracker from here on; default: none)",
        "run",
        section="training",
        optional=True,
        resumable=True,
        metavar="TRACKER",
        show_default=False,
    ),
]
