"""The table kind's model part (see vaekit.kinds.protocol): a VAE for tables, per-column
inputs and a mixed likelihood, with missing values masked.

Shapes: B rows, F modelled columns (Fn numeric, Fc categorical, K_j categories of categorical
column j), Z latent dims. A row is x (B, 1, 1, F) as the schema (data_schema.py) stores it:
numeric columns standardized, categorical ones as category indices, NaN where a value is missing.

- The encoder sees each row as [numeric values, one-hot categories, observed mask] (a missing
  value is a 0 with its mask bit 0), through an MLP, to q(z|x).
- The decoder maps z through an MLP to the likelihood's parameters, (B, P):
  [Fn means | Fn log standard deviations, per row ("pixel" variance only) | the logits of
  each categorical column, K_j each, in column order].
- p(x|z) is a product over the observed entries: a Gaussian for each numeric column, a
  categorical for each categorical one. A missing entry contributes nothing (the marginal of
  the observed ones, which the product gives exactly), as in HI-VAE (Nazabal et al. 2020,
  "Handling Incomplete Heterogeneous Data using VAEs") and MIWAE (Mattei & Frellsen 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.errors import VaekitError
from vaekit.kinds.table.data_schema import TableSchema
from vaekit.kinds.table.options import DEFAULTS as DEFAULTS  # the protocol's
from vaekit.models.distributions import LOG_2PI
from vaekit.models.factory import PRIORS, ModelConfig
from vaekit.models.likelihoods import LOG_STD_MAX, LOG_STD_MIN, STANDARDIZED_MAX
from vaekit.models.networks import MLPDecoder, MLPEncoder
from vaekit.models.vae import VAE

VARIANCES = ("fixed", "global", "pixel")


def rows_of(x: torch.Tensor) -> torch.Tensor:
    """Rows (B, 1, 1, F) or (B, F) -> (B, F)."""
    return x.reshape(x.shape[0], -1)


class _Layout(nn.Module):
    """Where each column's numbers are, shared by the encoder and the likelihood.

    Buffers (not saved with the weights: they follow from the schema): the numeric and
    categorical column positions, and for the categorical ones a padded gather index
    (Fc, Kmax) into their concatenated one-hot (or logit) block, with the padding marked."""

    def __init__(self, schema: TableSchema) -> None:
        super().__init__()
        self.num_numeric = len(schema.numeric)
        sizes = [len(schema.columns[j].categories) for j in schema.categorical]
        self.sizes = sizes
        self.onehot_width = sum(sizes)
        self.num_columns = len(schema.columns)
        kmax = max(sizes, default=1)
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        index = torch.zeros(len(sizes), kmax, dtype=torch.long)
        pad = torch.ones(len(sizes), kmax, dtype=torch.bool)
        for i, (offset, k) in enumerate(zip(offsets, sizes, strict=True)):
            index[i, :k] = torch.arange(offset, offset + k)
            pad[i, :k] = False
        self.register_buffer("numeric", torch.tensor(schema.numeric, dtype=torch.long), False)
        self.register_buffer("categorical", torch.tensor(schema.categorical, dtype=torch.long),
                             False)  # fmt: skip
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), False)
        self.register_buffer("index", index, False)
        self.register_buffer("pad", pad, False)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows (B, ...) -> numeric values (B, Fn; within +-STANDARDIZED_MAX) and category
        indices (B, Fc) (both 0 where missing), and the observed mask (B, F)."""
        rows = rows_of(x)
        observed = ~torch.isnan(rows)
        values = torch.where(observed, rows, torch.zeros_like(rows))
        numbers = values[:, self.numeric].clamp(-STANDARDIZED_MAX, STANDARDIZED_MAX)
        return numbers, values[:, self.categorical].long(), observed


class TableEncoder(nn.Module):
    """Rows (B, 1, 1, F) -> q(z|x): [numeric values, one-hot categories, observed mask]
    through an MLP (vaekit.models.networks.MLPEncoder)."""

    def __init__(self, schema: TableSchema, latent_dim: int, hidden_dims: tuple[int, ...]):
        super().__init__()
        self.layout = _Layout(schema)
        width = self.layout.num_numeric + self.layout.onehot_width + self.layout.num_columns
        self.mlp = MLPEncoder((width, 1, 1), latent_dim, hidden_dims)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input for rows x: (B, Fn + sum K_j + F)."""
        numbers, codes, observed = self.layout.split(x)
        seen = observed[:, self.layout.categorical]
        onehot = torch.zeros(len(codes), self.layout.onehot_width, dtype=numbers.dtype,
                             device=numbers.device)  # fmt: skip
        onehot.scatter_(1, self.layout.offsets + codes, seen.to(numbers.dtype))
        return torch.cat([numbers, onehot, observed.to(numbers.dtype)], dim=1)

    def forward(self, x: torch.Tensor):
        return self.mlp(self.features(x))


class TableDecoder(nn.Module):
    """z (B, Z) -> the likelihood's parameters (B, P) through an MLP."""

    def __init__(self, latent_dim: int, hidden_dims: tuple[int, ...], params: int):
        super().__init__()
        self.mlp = MLPDecoder((params, 1, 1), latent_dim, hidden_dims, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z).flatten(1)


class MixedTable:
    """p(x|z) for rows: Gaussians over the numeric columns (mean (B, Fn), std a float, (Fn,)
    or (B, Fn)) and categoricals over the categorical ones (logits (B, Fc, Kmax), padding at
    -inf), in standardized units and category indices."""

    def __init__(
        self,
        layout: _Layout,
        mean: torch.Tensor,
        std: float | torch.Tensor,
        logits: torch.Tensor,
    ) -> None:
        self.layout = layout
        self.numeric_mean = mean
        self.numeric_std = std
        self.logits = logits

    def log_prob_per_column(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_j | z) for each column of rows x: (B, F), 0 where x_j is missing."""
        numbers, codes, observed = self.layout.split(x)
        # In float32 at least, as every likelihood's terms (bf16 logits: the sum was bf16)
        dtype = torch.promote_types(self.logits.dtype, torch.float32)
        out = torch.zeros(observed.shape, dtype=dtype, device=observed.device)
        if self.layout.num_numeric:
            std = self.numeric_std
            log_std = torch.log(std) if isinstance(std, torch.Tensor) else math.log(std)
            z = (numbers - self.numeric_mean) / std
            out[:, self.layout.numeric] = -0.5 * (z * z + LOG_2PI) - log_std
        if len(self.layout.sizes):
            log_p = F.log_softmax(self.logits.to(dtype), dim=-1)
            out[:, self.layout.categorical] = log_p.gather(-1, codes.unsqueeze(-1)).squeeze(-1)
        return torch.where(observed, out, torch.zeros_like(out))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) of the observed entries of each row: (B,)."""
        return self.log_prob_per_column(x).sum(1)

    @property
    def probs(self) -> torch.Tensor:
        """Each categorical column's category probabilities (B, Fc, Kmax), 0 on the padding."""
        return torch.softmax(self.logits, dim=-1)

    @property
    def mean(self) -> torch.Tensor:
        """The reconstruction (B, 1, 1, F): each numeric column's mean, each categorical
        column's most probable category (its index)."""
        b = self.logits.shape[0]
        out = torch.empty(b, self.layout.num_columns, dtype=self.logits.dtype,
                          device=self.logits.device)  # fmt: skip
        out[:, self.layout.numeric] = self.numeric_mean.to(out.dtype)
        out[:, self.layout.categorical] = self.logits.argmax(-1).to(out.dtype)
        return out.reshape(b, 1, 1, -1)


class MixedLikelihood(nn.Module):
    """The decoder's output h (B, P) -> MixedTable. Numeric columns' standard deviation:
    "fixed" (`std`), "global" (one learned per column, starting at `std`) or "pixel" (one
    per row and column, from the decoder); clamped to [1e-3, 1e3] standard deviations of the
    column (see vaekit.models.likelihoods.LOG_STD_MIN)."""

    support = "table"
    params_per_channel = 1

    def __init__(self, schema: TableSchema, variance: str = "global", std: float = 1.0) -> None:
        super().__init__()
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}: choose from {VARIANCES}")
        if std <= 0:
            raise ValueError(f"the std must be positive, got {std}")
        self.layout = _Layout(schema)
        self.variance = variance
        self.std = std
        fn = self.layout.num_numeric
        if variance == "global":
            self.log_std = nn.Parameter(torch.full((fn,), math.log(std)))
        self.width = fn * (2 if variance == "pixel" else 1) + self.layout.onehot_width

    def forward(self, h: torch.Tensor) -> MixedTable:
        fn = self.layout.num_numeric
        mean, rest = h[:, :fn], h[:, fn:]
        if self.variance == "pixel":
            log_std, rest = rest[:, :fn], rest[:, fn:]
            std: float | torch.Tensor = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        elif self.variance == "global":
            std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        else:
            std = self.std
        if self.layout.sizes:
            logits = rest[:, self.layout.index].masked_fill(self.layout.pad, -math.inf)
        else:
            logits = rest.new_zeros(len(h), 0, 1)
        return MixedTable(self.layout, mean, std, logits)


class TableVAE(VAE):
    """The VAE over table rows. Its reconstructions are in the rows' own encoding
    (standardized numbers, category indices), so unlike images they are not clamped to
    [0, 1]; its reconstruction error is -log p(x | E_q[z|x]) over the observed entries."""

    def mean_image(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(z, y).mean

    def column_errors(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(x_j | E_q[z|x]) per column (B, F), 0 where x_j is missing."""
        return -self.decode(self.posterior_mean(x, y), y).log_prob_per_column(x)

    def reconstruction_error(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.column_errors(x, y).sum(1)


# The option values only a table takes: a config of another kind naming one is refused.
OWNED = {"likelihood": ("mixed",)}
OWNED_FOR = "tables (.csv, .parquet data)"


def check(config: ModelConfig) -> None:
    """A table model: its schema, and the options that fit rows (an MLP, the mixed
    likelihood, no conditioning, no VampPrior)."""
    schema = TableSchema.from_json(config.schema)
    if config.shape != (1, 1, len(schema.columns)):
        raise VaekitError(
            f"a table of {len(schema.columns)} columns has shape (1, 1, "
            f"{len(schema.columns)}), not {config.shape}"
        )
    refused = [
        (config.family != "mlp", f"--model {config.family}", "--model mlp"),
        (config.likelihood != "mixed", f"--likelihood {config.likelihood}",
         "--likelihood mixed"),
        (config.num_classes > 0, "--conditional", "an unconditional model"),
        (config.prior == "vamp", "--prior vamp", "--prior standard-normal or mog"),
        (config.flow_steps > 0, "--flow-steps", "a Gaussian posterior (--flow-steps 0)"),
        (config.autoregressive > 0, "--autoregressive", "no autoregressive decoder"),
    ]  # fmt: skip
    for wrong, given, wanted in refused:
        if wrong:
            raise VaekitError(f"{given} does not fit a table: tables take {wanted}")


def likelihood(config: ModelConfig) -> nn.Module | None:
    """The mixed likelihood over the schema's columns; None for a likelihood not a table's."""
    if config.likelihood != "mixed":
        return None
    schema = TableSchema.from_json(config.schema)
    return MixedLikelihood(schema, config.gaussian_variance, config.gaussian_std)


def assemble(config: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """The TableVAE: a table's own encoder (per-column inputs) and an MLP decoder to the
    likelihood's parameters, whatever the family (check allows only mlp); `parts` replaces
    any component with the user's own."""

    def part(name: str, build: Callable[[], nn.Module]) -> nn.Module:
        return parts[name] if name in parts else build()

    schema = TableSchema.from_json(config.schema)
    widths = config.family_options["hidden_dims"]  # mlp's own option
    return TableVAE(
        part("encoder", lambda: TableEncoder(schema, config.latent_dim, widths)),
        part("decoder", lambda: TableDecoder(config.latent_dim, widths, likelihood.width)),
        likelihood,
        part("prior", lambda: PRIORS[config.prior](config)),
    )


# --- the facade's questions (vaekit.api: Model, apps, anomaly, options, train) ------------

# A table's rows are no pictures: the complexity score, which compares with a PNG's size, is
# refused for them.
COMPLEXITY = False
# Each row has an id (its --id-column's value, else its row number), which `embed` reports.
IDS = True

# The options a table's model is built with unless the user gives them (the mixed likelihood's
# Gaussians learn one standard deviation per column, starting at the standardized columns'
# own); the image options it refuses (the options only a table takes are its own,
# vaekit.kinds.table.options, refused for other data with `only`'s message).
REFUSED = ("image_size", "pixels", "binarize", "train_noise", "conditional")


def refused(flag: str) -> str:
    """Why a table refuses the option `flag` (one of REFUSED)."""
    return f"{flag} is for images, not tables"


def only(flag: str, data: Any) -> str:
    """Why data of another kind, `data`, refuses the option `flag` (one of this kind's
    own options: Kind.load_options)."""
    return f"{flag} is for tables (.csv or .parquet data), and --data {data!r} is not one"


def prepare(x: Any, shape: tuple[int, ...], schema: TableSchema, max_value: float) -> torch.Tensor:
    """Rows encoded as the table's schema encodes them (numeric columns standardized,
    categorical ones as category indices, NaN where missing: `TableSchema.encode`), (B, F) or
    (B, 1, 1, F) -> float32 (B, 1, 1, F)."""
    t = torch.as_tensor(x)
    if t.is_complex() or t.dtype == torch.bool:
        raise VaekitError(f"expected rows of real numbers, got {t.dtype}")
    rows = t.to(torch.float32).reshape(len(t), -1) if t.dim() in (2, 4) else t
    why = schema.check_values(rows.cpu().numpy())
    if why is not None:
        raise VaekitError(f"not rows of this table: {why}")
    return rows.reshape(len(rows), 1, 1, -1)


def columns(schema: TableSchema) -> list[str]:
    """The names of the modelled columns, in the order of a row's values: a row's score has
    a part per column (vaekit.apps.anomaly.column_contributions)."""
    return schema.names


def named_inputs(resolver: Any, specs: list[str]) -> Any:
    """The rows that `specs` name (test-split indices or table files) as one ImageSet, with
    their ids and, where every part has them, their labels (`Inputs.rows`)."""
    return resolver.rows(specs)


def record(schema: TableSchema, options: dict[str, Any]) -> dict[str, Any]:
    """config.json's model.schema: the table's columns, statistics and categories."""
    return schema.to_json()
