"""Disentanglement metrics: how well a representation z (N, D) separates known generative
factors v (N, K), each factor given as integer codes (a discrete factor's classes; a
continuous factor such as a position, discretized as its dataset enumerates it).

Each metric follows its paper, with the numbers of points, bins and classifiers of the
common reference implementation (disentanglement_lib, Locatello et al. 2019) where the paper
leaves them open; every one is seeded and deterministic:

- MIG, the mutual information gap (Chen et al. 2018, "Isolating Sources of Disentanglement
  in Variational Autoencoders"): each latent discretized into a 20-bin histogram.
- SAP, the separated attribute predictability (Kumar et al. 2018, "Variational Inference of
  Disentangled Latent Concepts from Unlabeled Observations"): one threshold classifier per
  latent and factor.
- DCI disentanglement, completeness and informativeness (Eastwood and Williams 2018, "A
  Framework for the Quantitative Evaluation of Disentangled Representations"): gradient-
  boosted trees per factor.
- The FactorVAE score (Kim and Mnih 2018, "Disentangling by Factorising"): a majority-vote
  classifier from the least-varying latent of batches where one factor is fixed.

`disentanglement_metrics` computes them all; each function can be called alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIG_BINS = 20  # histogram bins per latent (disentanglement_lib's MIG protocol)
MIG_POINTS = 10_000
SAP_TRAIN, SAP_TEST = 10_000, 5_000
DCI_TRAIN, DCI_TEST = 10_000, 5_000
FACTOR_VAE_BATCH = 64  # points per vote, each with one factor fixed
FACTOR_VAE_TRAIN, FACTOR_VAE_EVAL = 10_000, 5_000  # votes
FACTOR_VAE_VARIANCE_POINTS = 10_000  # points that estimate each latent's scale
# A latent whose standard deviation over the data is below this has collapsed (it no longer
# varies with the input): it is pruned before the FactorVAE vote, as Kim and Mnih do.
COLLAPSED_STD = 0.05


def check_inputs(z: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """z as float64 (N, D) and v as int64 (N, K), checked to pair up; ValueError otherwise."""
    z = np.asarray(z, dtype=np.float64)
    v = np.asarray(v)
    if z.ndim == 1:
        z = z[:, None]
    if v.ndim == 1:
        v = v[:, None]
    if z.ndim != 2 or v.ndim != 2 or len(z) != len(v) or len(z) < 2:
        raise ValueError(f"expected z (N, D) and factors (N, K), N >= 2; got {z.shape}, {v.shape}")
    if not np.issubdtype(v.dtype, np.integer):
        raise ValueError(f"factors must be integer codes, got {v.dtype}")
    if not np.isfinite(z).all():
        raise ValueError("the representation has NaN or infinite values")
    return z, v.astype(np.int64)


def mig(z: Any, v: Any, *, bins: int = MIG_BINS, points: int = MIG_POINTS, seed: int = 0) -> dict:
    """The mutual information gap (Chen et al. 2018): per factor, the mutual information of
    its most informative latent minus that of the second, divided by the factor's entropy;
    the mean over factors. 1: each factor is captured by one latent alone; 0: by none, or
    equally by two.

    Each latent is discretized into `bins` equal-width bins over its range and the mutual
    information counted on `points` examples (a seeded subset; all of them where there are
    fewer): disentanglement_lib's histogram estimate of Chen et al.'s quantity. A factor
    that never varies (entropy 0) has no gap and is left out of the mean."""
    z, v = check_inputs(z, v)
    rng = np.random.default_rng(seed)
    pick = _subset(len(z), points, rng)
    z, v = z[pick], v[pick]
    codes = discretize(z, bins)
    info = mutual_information(codes, v)  # (D, K)
    entropy = np.array([_entropy(v[:, k]) for k in range(v.shape[1])])
    top = np.sort(info, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros(v.shape[1])
    varied = entropy > 0
    gaps = np.where(varied, (top[0] - second) / np.where(varied, entropy, 1.0), np.nan)
    return {
        "mig": float(np.nanmean(gaps)) if varied.any() else 0.0,
        "per_factor": [None if np.isnan(g) else float(g) for g in gaps],
        "points": len(z),
        "bins": bins,
    }


def discretize(z: np.ndarray, bins: int) -> np.ndarray:
    """Each column of z mapped to the index (0..bins-1) of its equal-width bin over its range."""
    codes = np.zeros(z.shape, dtype=np.int64)
    for d in range(z.shape[1]):
        edges = np.histogram_bin_edges(z[:, d], bins)
        # Inner edges only: values equal to the maximum fall in the last bin.
        codes[:, d] = np.digitize(z[:, d], edges[1:-1])
    return codes


def mutual_information(codes: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(D, K) mutual information in nats between each discretized latent and each factor."""
    from sklearn.metrics import mutual_info_score

    return np.array(
        [
            [mutual_info_score(v[:, k], codes[:, d]) for k in range(v.shape[1])]
            for d in range(codes.shape[1])
        ]
    )


def sap(
    z: Any, v: Any, *, train_points: int = SAP_TRAIN, test_points: int = SAP_TEST, seed: int = 0
) -> dict:
    """The separated attribute predictability (Kumar et al. 2018): a score matrix S (D, K),
    S[d, k] how well latent d alone predicts factor k; per factor, the score of the best
    latent minus that of the second; the mean over factors.

    Factors are discrete here (integer codes), so the score is Kumar et al.'s classification
    one: the balanced accuracy on held-out points of a threshold classifier on the one
    latent, a depth-first decision tree with as many leaves as the factor has classes (so
    n - 1 thresholds, each class one interval), trained on `train_points` examples and scored
    on `test_points` others (disentanglement_lib's counts; it uses a linear SVM per latent,
    whose one-vs-rest half-lines cannot single out the middle classes of an ordered factor).
    A factor that never varies is left out of the mean."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    z, v = check_inputs(z, v)
    rng = np.random.default_rng(seed)
    train, test = _train_test(len(z), train_points, test_points, rng)
    scores = np.zeros((z.shape[1], v.shape[1]))
    varied = np.array([len(np.unique(v[train, k])) > 1 for k in range(v.shape[1])])
    for k in np.flatnonzero(varied):
        classes = len(np.unique(v[train, k]))
        for d in range(z.shape[1]):
            tree = DecisionTreeClassifier(max_leaf_nodes=classes, random_state=seed)
            tree.fit(z[train, d : d + 1], v[train, k])
            predicted = tree.predict(z[test, d : d + 1])
            scores[d, k] = balanced_accuracy_score(v[test, k], predicted)
    top = np.sort(scores, axis=0)[::-1]
    gaps = top[0] - (top[1] if len(top) > 1 else 0.0)
    return {
        "sap": float(gaps[varied].mean()) if varied.any() else 0.0,
        "per_factor": [float(g) if ok else None for g, ok in zip(gaps, varied, strict=True)],
        "scores": scores.tolist(),
        "train_points": len(train),
        "test_points": len(test),
    }


def dci(
    z: Any,
    v: Any,
    *,
    train_points: int = DCI_TRAIN,
    test_points: int = DCI_TEST,
    seed: int = 0,
    n_estimators: int = 100,
) -> dict:
    """DCI (Eastwood and Williams 2018): one predictor per factor from all latents gives an
    importance matrix R (D, K), R[d, k] the importance of latent d for factor k.

    - disentanglement: per latent, 1 - the entropy (base K) of its row of R normalized to
      sum 1 (1: the latent matters for one factor only), weighted by the latent's share of
      all importance;
    - completeness: per factor, 1 - the entropy (base D) of its column normalized (1: one
      latent captures the factor), weighted by the factor's share (equal shares here);
    - informativeness: the predictors' mean accuracy on held-out points (1 is best; the
      paper states it as the error, 1 - this).

    The predictors are scikit-learn's GradientBoostingClassifier (default settings,
    `n_estimators` trees per class), the importances their impurity-based
    feature_importances_: the paper's gradient-boosted trees as disentanglement_lib runs
    them, trained on `train_points` examples and scored on `test_points` others."""
    from sklearn.ensemble import GradientBoostingClassifier

    z, v = check_inputs(z, v)
    rng = np.random.default_rng(seed)
    train, test = _train_test(len(z), train_points, test_points, rng)
    dims, factors = z.shape[1], v.shape[1]
    importance = np.zeros((dims, factors))
    train_acc, test_acc = [], []
    for k in range(factors):
        if len(np.unique(v[train, k])) < 2:
            continue  # a factor that never varies has nothing to predict
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(z[train], v[train, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train_acc.append(float(model.score(z[train], v[train, k])))
        test_acc.append(float(model.score(z[test], v[test, k])))
    total = importance.sum()
    if total <= 0:
        disentanglement = completeness = 0.0
    else:
        rows, columns = importance.sum(1), importance.sum(0)
        per_latent = 1 - _entropies(importance, factors)
        per_factor = 1 - _entropies(importance.T, dims)
        disentanglement = float((per_latent * rows / total).sum())
        completeness = float((per_factor * columns / total).sum())
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness": float(np.mean(test_acc)) if test_acc else 0.0,
        "informativeness_train": float(np.mean(train_acc)) if train_acc else 0.0,
        "importance": importance.tolist(),
        "train_points": len(train),
        "test_points": len(test),
    }


def factor_vae_score(
    z: Any,
    v: Any,
    *,
    batch_size: int = FACTOR_VAE_BATCH,
    train_votes: int = FACTOR_VAE_TRAIN,
    eval_votes: int = FACTOR_VAE_EVAL,
    variance_points: int = FACTOR_VAE_VARIANCE_POINTS,
    collapsed_std: float = COLLAPSED_STD,
    seed: int = 0,
) -> dict:
    """The FactorVAE score (Kim and Mnih 2018), on an enumerated dataset: z and v are the
    representation and factors of the same examples, and a batch "with factor k fixed" is
    `batch_size` examples drawn (with replacement) from those sharing one value of factor k,
    the value that of a randomly drawn example (so values come as often as in the data).

    Each latent is divided by its standard deviation over `variance_points` examples;
    latents whose standard deviation is under `collapsed_std` are pruned (collapsed). Per
    batch, the active latent of least variance votes for the fixed factor; a majority-vote
    classifier (each latent -> the factor it voted for most in `train_votes` votes) is
    scored on `eval_votes` other votes. Chance is about 1 / K; 1: each factor has its own
    latent. A factor that never varies is never fixed (fixing it fixes nothing)."""
    z, v = check_inputs(z, v)
    rng = np.random.default_rng(seed)
    scale = z[_subset(len(z), variance_points, rng)].std(0, ddof=1)
    active = scale >= collapsed_std
    result: dict[str, Any] = {"active_latents": int(active.sum())}
    factors = [k for k in range(v.shape[1]) if len(np.unique(v[:, k])) > 1]
    if not active.any() or not factors:
        return {"factor_vae_score": 0.0, "train_accuracy": 0.0, **result}
    normalized = z[:, active] / scale[active]
    # Examples by the value of each factor: where a batch with that value fixed is drawn.
    groups = [_groups(v[:, k]) for k in range(v.shape[1])]

    def votes(count: int) -> np.ndarray:
        tally = np.zeros((normalized.shape[1], v.shape[1]), dtype=np.int64)
        for _ in range(count):
            k = factors[rng.integers(len(factors))]
            members = groups[k][v[rng.integers(len(v)), k]]
            batch = normalized[members[rng.integers(len(members), size=batch_size)]]
            tally[np.argmin(batch.var(0, ddof=1)), k] += 1
        return tally

    train, held_out = votes(train_votes), votes(eval_votes)
    classifier = train.argmax(1)
    rows = np.arange(len(classifier))
    return {
        "factor_vae_score": float(held_out[rows, classifier].sum() / held_out.sum()),
        "train_accuracy": float(train[rows, classifier].sum() / train.sum()),
        **result,
        "batch_size": batch_size,
        "train_votes": train_votes,
        "eval_votes": eval_votes,
    }


def disentanglement_metrics(
    z: Any, v: Any, *, seed: int = 0, factor_names: list[str] | None = None
) -> dict[str, Any]:
    """MIG, SAP, DCI and the FactorVAE score of z (N, D) against factors v (N, K), each with
    its reference protocol (see each function), as a JSON-ready dict."""
    z, v = check_inputs(z, v)
    names = factor_names or [f"factor{k}" for k in range(v.shape[1])]
    if len(names) != v.shape[1]:
        raise ValueError(f"{len(names)} factor names for {v.shape[1]} factors")
    return {
        "factors": names,
        "examples": len(z),
        "mig": mig(z, v, seed=seed),
        "sap": sap(z, v, seed=seed),
        "dci": dci(z, v, seed=seed),
        "factor_vae": factor_vae_score(z, v, seed=seed),
        "seed": seed,
    }


def _entropy(codes: np.ndarray) -> float:
    """Entropy in nats of a discrete variable's empirical distribution."""
    counts = np.unique(codes, return_counts=True)[1]
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _entropies(matrix: np.ndarray, base: int) -> np.ndarray:
    """Per row, the entropy (log base `base`) of the row normalized to sum 1 (0 for a row of
    zeros, or where base is 1)."""
    sums = matrix.sum(1, keepdims=True)
    p = matrix / np.where(sums > 0, sums, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(1) / np.log(base) if base > 1 else np.zeros(len(matrix))


def _subset(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` of range(n) drawn without replacement (all of them, shuffled, when n <= count)."""
    return rng.permutation(n)[:count]


def _train_test(
    n: int, train: int, test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint train and test positions: the counts asked where there are enough examples,
    else all of them split in the same proportion."""
    order = rng.permutation(n)
    if train + test > n:
        train = max(1, round(n * train / (train + test)))
        test = n - train
    return order[:train], order[train : train + test]


def _groups(codes: np.ndarray) -> dict[int, np.ndarray]:
    """Value -> the positions that have it."""
    order = np.argsort(codes, kind="stable")
    values, starts = np.unique(codes[order], return_index=True)
    return {int(x): part for x, part in zip(values, np.split(order, starts[1:]), strict=True)}
