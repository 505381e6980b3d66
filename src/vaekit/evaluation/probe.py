"""Representation quality: a linear probe on posterior means.

A logistic regression trained on the training split's posterior means and scored on the
evaluated split: how linearly readable the classes are from the latent code.
"""

from __future__ import annotations

import numpy as np
import torch


def probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
) -> dict[str, float | int]:
    """Accuracy of a logistic-regression probe trained on (train_features, train_labels) and
    scored on the test pair. Features are standardized with the training statistics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = train_features.numpy(), train_labels.numpy()
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(x, y)
    accuracy = float(probe.score(test_features.numpy(), test_labels.numpy()))
    return {"accuracy": accuracy, "train_examples": len(x), "classes": len(np.unique(y))}
