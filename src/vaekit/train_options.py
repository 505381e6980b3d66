"""Every option of `vaekit train` / `vaekit.train`, declared once.

The flags and help of `vaekit train`, the keys of a `--config` TOML file, the checks of
`vaekit.train(**options)`, the sections of config.json and the rule of what may change on
`--resume` are all derived from this list; ModelConfig and TrainConfig take their defaults
from it. A new option is one declaration here plus the code that uses it.
"""

from __future__ import annotations

from vaekit.options import (
    Duration,
    Flag,
    Float,
    Int,
    Names,
    Option,
    OptionSet,
    Source,
    Text,
    Widths,
)

LIKELIHOODS = (
    "bernoulli",
    "gaussian",
    "logistic",
    "logistic-mixture",
    "logistic-mixture-coupled",
    "mixed",
    "categorical",
)

_DATA = [
    Option(
        "data",
        Source(),
        "fashion-mnist",
        "a dataset name (fashion-mnist, mnist, binarized-mnist, digits, cifar10, svhn, "
        "olivetti, celeba: see `vaekit data list`); a folder holding the four IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, plain or .gz), CIFAR-10 batches, SVHN .mat files, a prepared "
        "dataset, or PNG/JPEG images (subfolder names = labels); a table, a .csv or .parquet "
        "file with a header row (see --columns and the options after it); a folder of .wav "
        "recordings (audio: see --clip-seconds and the options after it); a .txt file of text, "
        "one example a line (see --vocab-size and the options after it); or a .npy/.npz file "
        "of images",
        "data",
        section="data",
        key="name",
        resumable=True,  # data that has moved; its checksum must match the recorded one
        metavar="NAME|PATH",
    ),
    Option(
        "image_size",
        Int(least=1),
        None,
        "for image files (folders, CelebA): crop each to its centre square and resize it "
        "to S x S; without it, a folder's images must share one size (CelebA: 64)",
        "data",
        section="data",
        optional=True,
        metavar="S",
        show_default=False,
    ),
    Option(
        "color",
        Text(("auto", "gray", "rgb")),
        "auto",
        "decode image files as grayscale or RGB (auto: RGB if any has color)",
        "data",
        section="data",
    ),
    Option(
        "crop",
        Text(("center", "none")),
        "center",
        "with --image-size: crop each image's centre square before resizing, or resize "
        "the whole image, changing its aspect",
        "data",
        section="data",
    ),
    Option(
        "pixels",
        Text(("binary", "8-bit", "discrete", "continuous")),
        None,
        "what the pixel values are, which decides whether a likelihood's number is a "
        "log-likelihood (and bits/dim) or only an objective: binary (0/1 or 0/max), 8-bit "
        "(256 levels), discrete (integers 0..max), continuous (floats); by default each data "
        "source declares its own (binarized-mnist binary, digits discrete, images 8-bit, "
        "float arrays continuous)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "columns",
        Names(),
        None,
        "for a table (.csv, .parquet): the columns to model, comma-separated. A column whose "
        "values are numbers is numeric (standardized with the training rows' mean and standard "
        "deviation, modelled by a Gaussian), any other categorical (modelled by a categorical); "
        "an empty cell or NA, NaN, null, ? is a missing value, left out of the likelihood "
        "(default: every column but --target and --id-column)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "target",
        Text(),
        None,
        "for a table: the column holding each row's label (a class), used where images use "
        "theirs (eval's probe, anomaly --normal-labels, embed); never a feature. A column "
        "of fractional numbers, or with more classes than 5 in 100 rows (and than 20), is "
        "refused as unlikely to be a label, unless --target-is-label confirms it",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
    ),
    Option(
        "target_is_label",
        Flag(),
        False,
        "for a table: take --target as a class label even where its values look like "
        "measurements (fractional numbers, or very many classes)",
        "data",
    ),
    Option(
        "id_column",
        Text(),
        None,
        "for a table: the column naming each row, written beside its scores and "
        "reconstructions; never a feature (default: the row number, from 0)",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
        show_default=False,
    ),
    Option(
        "sample_rate",
        Int(least=1),
        None,
        "for a folder of .wav files (audio): the rate every recording is resampled to "
        "(band-limited, by the FFT); by default the rate most of the files have",
        "data",
        section="data",
        optional=True,
        metavar="HZ",
        show_default=False,
    ),
    Option(
        "clip_seconds",
        Float(positive=True, below=3600.0),
        None,
        "audio: the length every recording is fitted to: a longer one keeps its first S "
        "seconds, a shorter one is padded with silence at its end (default: 1.0)",
        "data",
        section="data",
        optional=True,
        metavar="S",
        show_default=False,
    ),
    Option(
        "n_fft",
        Int(least=2, most=1 << 16),
        None,
        "audio: the STFT's window and FFT size in samples (a Hann window; default: 512, 64 ms "
        "at 8 kHz, 32 ms at 16 kHz)",
        "data",
        section="data",
        optional=True,
        metavar="N",
        show_default=False,
    ),
    Option(
        "hop_length",
        Int(least=1),
        None,
        "audio: samples between STFT frames (default: 128); a clip has 1 + clip // hop frames",
        "data",
        section="data",
        optional=True,
        metavar="N",
        show_default=False,
    ),
    Option(
        "n_mels",
        Int(least=1, most=1024),
        None,
        "audio: mel bins of the log-mel spectrogram (HTK mel scale, 0 Hz to half the sample "
        "rate; default: 64)",
        "data",
        section="data",
        optional=True,
        metavar="M",
        show_default=False,
    ),
    Option(
        "label_pattern",
        Text(),
        None,
        "audio: a regular expression searched in each file name; its first group is the "
        "file's label (for the Free Spoken Digit Dataset's {digit}_{speaker}_{index}.wav: "
        "'^(\\d+)_'); without it the recordings are unlabelled",
        "data",
        section="data",
        optional=True,
        metavar="REGEX",
    ),
    Option(
        "test_pattern",
        Text(),
        None,
        "audio: the files whose name matches this regular expression are the test split "
        "(FSDD's official one, index 0-4: '_[0-4]\\.wav$'); without it a random tenth, "
        "carved with the seed",
        "data",
        section="data",
        optional=True,
        metavar="REGEX",
    ),
    Option(
        "val_fraction",
        Float(below=1.0),
        0.1,
        "share of the training split held out for validation, carved with the seed; "
        "0 trains on all of it; ignored where the data has an official validation split",
        "data",
        section="training",
        metavar="F",
    ),
    Option(
        "train_noise",
        Text(),
        None,
        "train a denoising VAE: corrupt each batch on the way in (gaussian:0.3, "
        "saltpepper:0.1 or mask:0.25) and score the reconstruction against the clean images",
        "data",
        section="training",
        optional=True,
        metavar="KIND:AMOUNT",
    ),
    Option(
        "binarize",
        Flag(),
        False,
        "dynamic binarization: train on a fresh Bernoulli draw of the pixel intensities "
        "each batch; validation and test use one draw made with the seed",
        "data",
        section="training",
    ),
]

# Text (.txt data, one sentence per line). Recorded in config.json as the model's "text"
# record (vaekit.models.text.TextSpec), not as options of their own.
_TEXT = [
    Option(
        "vocab_size",
        Int(least=1),
        10_000,
        "for text: the vocabulary, the N most frequent tokens of the training lines (lowercased "
        "words and punctuation marks); any other token reads as <unk>",
        "data",
        metavar="N",
    ),
    Option(
        "max_length",
        Int(least=1, most=1000),  # vaekit.data.text.MAX_LENGTH (a layer above this file)
        40,
        "for text: the longest line kept, in tokens; longer training and test lines are "
        "dropped (`vaekit data info` counts them), longer sentences given later are truncated",
        "data",
        metavar="N",
    ),
    Option(
        "embed_dim",
        Int(least=1),
        128,
        "for text: the width of the word embeddings (encoder and decoder)",
        "model",
        metavar="E",
    ),
    Option(
        "rnn_hidden",
        Int(least=1),
        256,
        "for text: the width of the GRU encoder's and decoder's state",
        "model",
        metavar="H",
    ),
    Option(
        "word_dropout",
        Float(below=1.0),
        0.25,
        "for text: while training, each decoder input word is replaced by <unk> with this "
        "probability, so that the decoder needs the latent (Bowman et al. 2016); 0 is off",
        "objective",
        metavar="P",
    ),
    Option(
        "language_model",
        Flag(),
        False,
        "for text: train the decoder alone, as a plain language model (no latent: its KL is "
        "0 and its ELBO is its exact log-likelihood), to compare a VAE's NLL with",
        "model",
    ),
]

_MODEL = [
    Option(
        "model",
        Text(("mlp", "conv", "resnet", "hvae", "hconv", "rnn")),
        "conv",
        "encoder/decoder family: mlp (fully connected), conv (stride-2 convolutions), "
        "resnet (residual blocks per stage; He et al. 2016), hvae, a hierarchical VAE with "
        "--layers stochastic layers and top-down inference (Ladder VAE, Sonderby et al. 2016; "
        "NVAE, Vahdat & Kautz 2020), hconv, a convolutional hierarchy with --layers latent "
        "maps of --latent-dim channels at each --channels scale and --depth residual cells "
        "(after NVAE and VDVAE, Child 2021), or rnn, for text (and chosen for it): GRU "
        "encoder and decoder (Bowman et al. 2016)",
        "model",
        section="model",
        key="family",
    ),
    Option(
        "latent_dim",
        Int(least=1),
        20,
        "number of latent dimensions, per layer for hvae; for hconv the channels of each "
        "latent map (a map at 7x7 with Z=4 is 196 dimensions: keep it small)",
        "model",
        section="model",
        metavar="Z",
    ),
    Option(
        "hidden_dims",
        Widths(),
        (400,),
        "MLP hidden layer widths, encoder order; the decoder mirrors them; hvae's blocks "
        "use the first",
        "model",
        section="model",
        metavar="W[,W...]",
    ),
    Option(
        "channels",
        Widths(),
        (32, 64),
        "conv/resnet/hconv channels per stride-2 stage; the decoder mirrors them",
        "model",
        section="model",
        metavar="C[,C...]",
    ),
    Option(
        "depth",
        Int(least=0),
        2,
        "resnet: residual blocks per stage; hconv: per stage and after each latent group",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "layers",
        Int(least=1),
        2,
        "hvae: stochastic layers, at least 2; hconv: latent groups per scale",
        "model",
        section="model",
        metavar="L",
    ),
    Option(
        "likelihood",
        Text(LIKELIHOODS),
        "bernoulli",
        "p(x|z): bernoulli (intensities in [0, 1]); gaussian (see --gaussian-variance); "
        "logistic or logistic-mixture, discretized to the 256 values of 8-bit pixels (Kingma "
        "et al. 2016; Salimans et al. 2017, PixelCNN++), so that -ELBO and NLL are real "
        "likelihoods and bits/dim are reported; logistic-mixture-coupled: each color channel's "
        "mixture also depends on the previous channel's value (R -> G -> B), after PixelCNN++; "
        "mixed, for tables (and chosen for them): a Gaussian per numeric column, a categorical "
        "per categorical column, missing values left out; categorical, for text (and chosen "
        "for it): a categorical over the vocabulary for each word and the end of the line",
        "model",
        section="model",
    ),
    Option(
        "gaussian_variance",
        Text(("fixed", "global", "pixel")),
        "fixed",
        "gaussian: a fixed standard deviation (--gaussian-std), one learned for all "
        "pixels (starting at --gaussian-std), or one per pixel predicted by the decoder; for a "
        "table's numeric columns (mixed): global learns one per column, pixel predicts one per "
        "row and column; a table's model takes global, starting at 1, unless given another",
        "model",
        section="model",
    ),
    Option(
        "gaussian_std",
        Float(positive=True),
        0.1,
        "standard deviation of the gaussian likelihood, in [0, 1] pixel units (for a table, "
        "in standard deviations of each numeric column)",
        "model",
        section="model",
        metavar="S",
    ),
    Option(
        "mixtures",
        Int(least=1),
        5,
        "logistic-mixture(-coupled): components per pixel and channel",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "autoregressive",
        Int(least=0),
        0,
        "an autoregressive decoder: a PixelCNN of N masked, gated layers (van den Oord et al. "
        "2016) reads the image and the decoder's features of z, as in PixelVAE (Gulrajani et "
        "al. 2017); with bernoulli or the logistic likelihoods; sampling is pixel by pixel "
        "(H x W passes); 0 is off",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "ar_kernel",
        Int(least=3),
        3,
        "--autoregressive: the masked convolutions' kernel size K (odd); the receptive field "
        "reaches N * (K // 2) rows up, and a small one keeps the latent code in use",
        "model",
        section="model",
        metavar="K",
    ),
    Option(
        "ar_width",
        Int(least=1),
        32,
        "--autoregressive: channels of the gated layers; the decoder gives that many "
        "feature maps per image channel",
        "model",
        section="model",
        metavar="W",
    ),
    Option(
        "prior",
        Text(("standard-normal", "mog", "vamp")),
        "standard-normal",
        "p(z): standard-normal; mog, a learned mixture of Gaussians; or vamp, the "
        "VampPrior, a mixture of the encoder's posteriors at learned pseudo-inputs (Tomczak & "
        "Welling 2018)",
        "model",
        section="model",
    ),
    Option(
        "prior_components",
        Int(least=1),
        10,
        "mog components or vamp pseudo-inputs",
        "model",
        section="model",
        metavar="K",
    ),
    Option(
        "flow_steps",
        Int(least=0),
        0,
        "a flow posterior: N inverse autoregressive flow steps on top of the encoder's Gaussian "
        "(IAF, Kingma et al. 2016), each an autoregressive network of z and of a context "
        "vector that the encoder also outputs, so that q(z|x) can be skewed and correlated, "
        "not only a diagonal Gaussian; log q(z|x) stays exact, the KL becomes a one-sample "
        "estimate (no --free-bits), and posterior means are Monte Carlo averages; mlp, conv "
        "and resnet; 0 is off",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "flow_hidden",
        Int(least=1),
        128,
        "with --flow-steps: the width of each IAF step's two hidden layers and of the "
        "encoder's context vector",
        "model",
        section="model",
        metavar="W",
    ),
    Option(
        "conditional",
        Flag(),
        False,
        "a conditional VAE (Sohn et al. 2015): the class label goes to the encoder and "
        "the decoder; then `vaekit sample RUNDIR --label 3` draws class 3; config.json records "
        "it as the model's num_classes",
        "model",
    ),
]

_OBJECTIVE = [
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
]

_TRAINING = [
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
        Text(("constant", "cosine", "plateau")),
        "constant",
        "constant; cosine, annealed to 0 over the run (Loshchilov & Hutter 2017); or "
        "plateau, halved after 2 epochs without a better validation loss",
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
        "epochs so far; --epochs stays the upper limit, and early stopping and best-epoch "
        "weights work as without it. A resumed run gets the budget afresh",
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
        Text(("adam", "adamw", "sgd")),
        "adam",
        "adam, adamw, or sgd with momentum 0.9",
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

_RUN = [
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
]

TRAIN_OPTIONS = OptionSet(_DATA + _TEXT + _MODEL + _OBJECTIVE + _TRAINING + _RUN)
DEFAULTS = TRAIN_OPTIONS.defaults()


def resumable_flags() -> str:
    """The flags that may differ when a run is resumed, "--data, --epochs, ...": the one list
    that `--help`, the refusal of any other flag and the README give."""
    flags = [
        f"{o.flag}/--no-{o.flag[2:]}" if isinstance(o.kind, Flag) else o.flag
        for o in TRAIN_OPTIONS
        if o.resumable
    ]
    return ", ".join(flags[:-1]) + " and " + flags[-1]
