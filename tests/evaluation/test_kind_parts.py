"""Each of vaekit's kinds answers what `vaekit.evaluate` and `vaekit eval` ask it (the evaluate
and render parts of vaekit.kinds.protocol), and eval.json's data_kind finds its kind."""

import pytest

from vaekit.cli.evaluate import report_kind
from vaekit.errors import VaekitError
from vaekit.kinds.base import BUILTIN_KINDS


@pytest.mark.parametrize("declared", BUILTIN_KINDS, ids=lambda k: k.name)
def test_every_kind_has_its_evaluate_and_render_functions(declared):
    evaluate = declared.part("evaluate")
    assert isinstance(evaluate.RECONSTRUCTION_MSE, bool) and callable(evaluate.figures)
    render = declared.part("render")
    assert callable(render.eval_nouns) and callable(render.eval_lines)


@pytest.mark.parametrize(
    ("data_kind", "name"),
    [("images", "image"), ("table", "table"), ("audio", "audio"), ("text", "text")],
)
def test_the_data_kind_of_eval_json_finds_its_kind(data_kind, name):
    assert report_kind({"data_kind": data_kind}).name == name


def test_a_report_of_no_known_kind_is_refused_in_one_line():
    with pytest.raises(VaekitError, match="no known kind of data"):
        report_kind({"data_kind": "video"})


def test_only_images_keep_the_pixel_mse():
    assert [k.name for k in BUILTIN_KINDS if k.part("evaluate").RECONSTRUCTION_MSE] == ["image"]
