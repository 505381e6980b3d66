"""One example whose -ELBO (or bound) dwarfs the others' gets a warning in eval's report: the
mean then describes that example, not the model."""

import torch

from vaekit.evaluation.evaluate import DOMINATED_MIN_EXAMPLES, dominated_warning


def test_one_example_that_holds_most_of_the_spread_is_named():
    g = torch.Generator().manual_seed(0)
    values = 234 + 10 * torch.randn(6000, generator=g)
    assert dominated_warning(values, "-ELBO") is None  # an ordinary spread: nothing to say
    values[4517] = 1.7e29  # what a hierarchical VAE gave one validation image
    said = dominated_warning(values, "-ELBO")
    assert said is not None and said.startswith("example 4517's -ELBO is 1.7e+29")
    assert "against a median of 23" in said  # 234 give or take the noise


def test_negative_values_too_and_a_heavy_tail_is_not_one_example():
    values = torch.full((50,), -120.0)
    values[3] = -9e6  # a table's density: nats can be negative
    assert "example 3's bound" in dominated_warning(values, "bound")
    tail = torch.cat([torch.full((40,), 100.0), torch.full((10,), 500.0)])
    assert dominated_warning(tail, "-ELBO") is None  # ten examples share the spread


def test_non_finite_values_are_left_to_their_own_warning_and_few_examples_say_nothing():
    values = torch.full((30,), 5.0)
    values[0], values[1] = float("nan"), float("inf")
    assert dominated_warning(values, "-ELBO") is None
    values[2] = 1e9
    assert "example 2's" in dominated_warning(values, "-ELBO")
    few = torch.full((DOMINATED_MIN_EXAMPLES - 1,), 1.0)
    few[0] = 1e9
    assert dominated_warning(few, "-ELBO") is None
