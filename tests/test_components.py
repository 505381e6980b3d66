"""Likelihoods, priors, optimizers and learning-rate schedules are each declared once
(vaekit.components): the options' choices and help, the factory's builders and the training
loop's are read from the declarations, a kind's own likelihoods from its options module, and
one more declaration is one more choice, with no other change."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tests.cli.test_cli import vaekit
from vaekit import components
from vaekit.components import Component, Components
from vaekit.errors import VaekitError
from vaekit.kinds.base import BUILTIN_KINDS
from vaekit.models import factory, likelihoods, priors
from vaekit.train_options import TRAIN_OPTIONS
from vaekit.training import optimizers
from vaekit.training.loop import OPTIMIZERS
from vaekit.training.schedules import LR_SCHEDULES

ROLES = {
    "likelihood": components.LIKELIHOODS,
    "prior": components.PRIORS,
    "optimizer": components.OPTIMIZERS,
    "lr_schedule": components.LR_SCHEDULES,
}


@pytest.mark.parametrize("option", sorted(ROLES))
def test_each_option_reads_its_choices_and_help_from_the_declarations(option):
    registry, declared = ROLES[option], TRAIN_OPTIONS[option]
    assert declared.choices == registry.names()
    described = list(registry.known.values()) + registry.owned(BUILTIN_KINDS)
    assert {c.name for c in described} == set(declared.choices)
    for component in described:
        assert f"{component.name}, {component.help}" in declared.help, component.name
    assert declared.help.startswith(registry.intro)
    assert declared.default in declared.choices


def test_the_kinds_own_likelihoods_are_choices_each_kind_declares():
    choices = TRAIN_OPTIONS["likelihood"].choices
    owners = 0
    for kind in BUILTIN_KINDS:
        owned = getattr(kind.part("model"), "OWNED", {}).get("likelihood", ())
        declared = [c.name for c in components.LIKELIHOODS.owned([kind])]
        assert sorted(declared) == sorted(owned), kind.name  # the options and the model part
        assert all(c.builder is None for c in components.LIKELIHOODS.owned([kind]))
        owners += bool(owned)
        for name in owned:
            assert name in choices and name not in factory.LIKELIHOODS  # built by the kind
    assert owners >= 2
    assert factory.likelihood_names() == choices
    help_text = TRAIN_OPTIONS["likelihood"].help
    assert "a Gaussian per numeric column" in help_text and "over the vocabulary" in help_text


def _config(**values):
    base = dict(gaussian_variance="fixed", gaussian_std=0.1, mixtures=3, latent_dim=4)
    return SimpleNamespace(**{**base, "prior_components": 2, "shape": (1, 4, 4), **values})


def test_every_declared_likelihood_and_prior_builds_its_module():
    built = {name: factory.LIKELIHOODS[name](_config()) for name in factory.LIKELIHOODS}
    assert isinstance(built["bernoulli"], likelihoods.BernoulliLikelihood)
    assert isinstance(built["gaussian"], likelihoods.GaussianLikelihood)
    assert isinstance(built["logistic"], likelihoods.DiscretizedLogisticLikelihood)
    mixture = built["logistic-mixture"]
    assert isinstance(mixture, likelihoods.DiscretizedLogisticMixtureLikelihood)
    coupled = factory.LIKELIHOODS["logistic-mixture-coupled"](_config())
    assert (
        type(coupled) is type(mixture) and coupled.params_per_channel > mixture.params_per_channel
    )
    learned = factory.LIKELIHOODS["gaussian"](_config(gaussian_variance="global"))
    assert isinstance(learned, likelihoods.LearnedGaussianLikelihood)
    per_pixel = factory.LIKELIHOODS["gaussian"](_config(gaussian_variance="pixel"))
    assert isinstance(per_pixel, likelihoods.PixelGaussianLikelihood)
    made = {name: factory.PRIORS[name](_config()) for name in factory.PRIORS}
    assert isinstance(made["standard-normal"], priors.StandardNormal)
    assert isinstance(made["mog"], priors.MixtureOfGaussians)
    assert isinstance(made["vamp"], priors.VampPrior)
    assert all(isinstance(m, nn.Module) for m in [*built.values(), *made.values()])


def test_every_declared_optimizer_builds_over_the_parameters():
    weight = nn.Parameter(torch.zeros(3))
    assert OPTIMIZERS is optimizers.OPTIMIZERS
    made = {name: OPTIMIZERS[name]([weight], 0.01) for name in OPTIMIZERS}
    assert isinstance(made["adam"], torch.optim.Adam)
    assert isinstance(made["adamw"], torch.optim.AdamW)
    assert made["adamw"].defaults["weight_decay"] == 0.01  # as its help says
    assert isinstance(made["sgd"], torch.optim.SGD) and made["sgd"].defaults["momentum"] == 0.9
    assert all(o.defaults["lr"] == 0.01 for o in made.values())


def test_unknown_names_are_refused_in_one_line(capsys):
    with pytest.raises(VaekitError) as caught:
        TRAIN_OPTIONS.check({"likelihood": "bogus"}, "config.toml", spell="key")
    message = str(caught.value)
    assert "\n" not in message and "'bogus'" in message
    assert all(name in message for name in TRAIN_OPTIONS["likelihood"].choices)
    assert "bogus" not in factory.PRIORS and "mog" in factory.PRIORS
    with pytest.raises(KeyError):
        LR_SCHEDULES["bogus"]
    assert vaekit("train", "--data", "digits", "--likelihood", "bogus") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "invalid choice: 'bogus'" in error and "'mixed', 'categorical'" in error


@pytest.fixture
def one_more_prior(monkeypatch):
    """A prior declared beside vaekit's own (removed after the test)."""
    monkeypatch.setitem(
        components.PRIORS.known,
        "wide-normal",
        Component("wide-normal", "a standard normal", "vaekit.models.builders:standard_normal"),
    )
    return "wide-normal"


def test_one_more_declaration_is_one_more_choice(one_more_prior):
    assert one_more_prior in TRAIN_OPTIONS["prior"].choices
    assert TRAIN_OPTIONS.check({"prior": one_more_prior}, "train") == {"prior": one_more_prior}
    assert one_more_prior in factory.PRIORS and one_more_prior in factory._CHOICES["prior"]()
    config = factory.ModelConfig(shape=(1, 8, 8), family="mlp", prior=one_more_prior)
    vae = factory.build_vae(config)
    assert isinstance(vae.prior, priors.StandardNormal)


class _EntryPoint:
    def __init__(self, name, declared):
        self.name, self.value, self.declared = name, f"demo:{name}", declared

    def load(self):
        return self.declared


def test_installed_packages_add_components_through_entry_points(monkeypatch):
    group = "vaekit.test_priors"
    published = {group: [_EntryPoint("flat", Component("flat", "flat", "demo:flat"))]}
    monkeypatch.setattr(
        "vaekit.kinds.base.metadata.entry_points", lambda group: published.get(group, [])
    )
    registry = Components(group, "prior", "p(z): ")
    registry.declare("normal", "N(0, I)", "vaekit.models.builders:standard_normal")
    assert registry.help() == "p(z): normal, N(0, I)"  # fixed before the entry points are read
    assert registry.names() == ("normal", "flat")
    with pytest.raises(VaekitError, match=r"^prior 'flat': its builder 'demo:flat' cannot be"):
        registry.builder("flat")
    assert registry.builder("normal")(_config()).latent_dim == 4
    published[group] = [_EntryPoint("flat", Component("other", "x", "demo:flat"))]
    with pytest.raises(VaekitError, match="declares the prior 'other': name them alike"):
        Components(group, "prior", "").all()


def test_the_choices_and_help_are_read_without_torch():
    """The declarations stay at the bottom of the layer map: `--help`'s choices and text
    (and the kinds' own likelihoods) come without importing torch."""
    code = (
        "import sys\n"
        "from vaekit.train_options import TRAIN_OPTIONS as T\n"
        "names = [T[o].choices for o in ('likelihood', 'prior', 'optimizer', 'lr_schedule')]\n"
        "assert 'categorical' in names[0] and T['likelihood'].help, names\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_progress_bar_counts_what_its_task_counts(monkeypatch):
    """Scoring text counts lines, not images (the bar said "img/s")."""
    from vaekit import progress

    made = []

    class Bar:
        def __init__(self, **kwargs):
            made.append(kwargs["unit"])
            self.n = 0

        def update(self, k):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(progress, "bar_class", lambda: Bar)
    bars = progress.Bars()
    for task in ("score sentences", "decode pixels", "read guidelines.csv", "encode"):
        bars.update(task, 1, 2)
    assert made == ["line", "px", "img", "img"]
