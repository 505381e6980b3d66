"""The learning rate schedules are the ones declared (vaekit.components): --lr-schedule's
choices are read from the declarations, and vaekit.training.schedules implements each."""

import inspect

from vaekit import components
from vaekit.train_options import TRAIN_OPTIONS
from vaekit.training import schedules
from vaekit.training.schedules import LR_SCHEDULES, PLATEAU_EPOCHS


def test_every_declared_lr_schedule_is_implemented_and_no_other():
    declared = tuple(c.name for c in components.LR_SCHEDULES.all())
    assert TRAIN_OPTIONS["lr_schedule"].choices == declared
    assert tuple(LR_SCHEDULES) == declared and len(declared) >= 3
    for name in declared:
        function = LR_SCHEDULES[name]
        assert inspect.getmodule(function) is schedules, name
        assert list(inspect.signature(function).parameters) == [
            "config", "history", "step", "total_steps"
        ]  # fmt: skip


def test_the_plateau_help_says_how_long_it_waits():
    (plateau,) = [c for c in components.LR_SCHEDULES.all() if c.name == "plateau"]
    assert f"after {PLATEAU_EPOCHS} epochs" in plateau.help
