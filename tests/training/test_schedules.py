"""The learning rate schedules are the ones `--lr-schedule` declares: its choices are the one
list of their names, and vaekit.training.schedules implements each of them and no other."""

from vaekit.train_options import TRAIN_OPTIONS
from vaekit.train_options_training import LR_SCHEDULE_NAMES
from vaekit.training.schedules import LR_SCHEDULES


def test_every_declared_lr_schedule_is_implemented_and_no_other():
    assert TRAIN_OPTIONS["lr_schedule"].choices == LR_SCHEDULE_NAMES
    assert tuple(LR_SCHEDULES) == LR_SCHEDULE_NAMES
