import json

import pytest
import torch

from conftest import assert_clean_error, run_cli
from digitlab.errors import DigitlabError
from digitlab.models import parse_spec, resolve_model, summarize
from digitlab.models.build import DigitNet
from digitlab.models.layers import Dropout, Flatten


@pytest.mark.parametrize("name, trainable, frozen", [
    ("report-ann", 473631, 0),
    ("report-cnn-first", 93222, 0),
    ("report-cnn-final", 492446, 6932),
])
def test_presets_have_the_reports_parameter_counts(name, trainable, frozen):
    s = summarize(resolve_model(name))
    assert (s["trainable_params"], s["non_trainable_params"], s["total_params"]) == (trainable, frozen,
                                                                                     trainable + frozen)


def test_summary_shows_keras_shapes_for_the_final_cnn():
    rows = summarize(resolve_model("report-cnn-final"))["layers"]
    assert [r["output_shape"] for r in rows[:9]] == [
        [26, 26, 64], [26, 26, 64], [13, 13, 64], [13, 13, 64],
        [11, 11, 128], [11, 11, 128], [5, 5, 128], [5, 5, 128], [3200]]
    assert [r["params"] for r in rows if r["params"]] == [640, 73856, 12800, 409728, 512, 512, 1290, 40]


@pytest.mark.parametrize("spec, out_layers", [
    ("F-10", 2),
    ("32C5-R-AP2-F-20-R-10-SM", 7),
    ("16C3P-BN0.9-LR0.1-MP2-32C3S2-T-GAP-D0.5-10U", 9),
    ("8c3-r-f-10-sm", 4),  # tokens are case-insensitive
])
def test_good_specs_build_working_models(spec, out_layers):
    model = DigitNet(spec)
    assert len(model.layers) == out_layers
    assert model(torch.rand(3, 1, 28, 28) * 255).shape == (3, 10)


@pytest.mark.parametrize("spec, fragment", [
    ("32C3-XX-F-10", "'XX' (position 2)"),
    ("", "empty model spec"),
    ("10", "needs a flat input"),
    ("F-32C3-10", "already flattened"),
    ("32C3-F-20", "must end with 10 outputs"),
    ("32C3-R", "must end with 10 outputs"),
    ("F-10-SM-10", "softmax (SM) may only be the last"),
    ("D1.5-F-10", "dropout rate"),
    ("32C29-F-10", "kernel 1..28"),
    ("8C5-MP2-8C5-MP2-8C5-F-10", "shrinks to nothing"),
    ("F-F-10", "already flat"),
    ("F-LR1.5-10", "slope"),
])
def test_bad_specs_name_the_problem(spec, fragment):
    with pytest.raises(DigitlabError) as err:
        parse_spec(spec)
    assert fragment in str(err.value)


def test_unknown_model_name_lists_the_presets():
    with pytest.raises(DigitlabError, match="report-cnn-final"):
        resolve_model("resnet")


def test_keras_initializers():
    torch.manual_seed(0)
    model = DigitNet("F-128U-10")
    dense_uniform, dense_glorot = model.layers[1], model.layers[2]
    assert dense_uniform.weight.abs().max() <= 0.05 and dense_uniform.weight.abs().max() > 0.049
    glorot_limit = (6 / (128 + 10)) ** 0.5
    assert dense_glorot.weight.abs().max() <= glorot_limit
    assert torch.count_nonzero(dense_glorot.bias) == 0
    bn = DigitNet("F-BN-10").layers[1]
    assert (bn.eps, bn.momentum) == (1e-3, pytest.approx(0.01))


def test_pooling_before_activation_gives_the_same_function():
    torch.manual_seed(0)
    model = resolve_model("report-cnn-final").build().eval()
    assert model.plan[:4] == [0, 2, 1, 3]  # the max pool runs before the LeakyReLU
    x = torch.rand(16, 1, 28, 28) * 255
    naive = x * model.scale + model.shift
    for layer in model.layers:  # the spec's own order
        naive = layer(naive)
    assert torch.allclose(model(x), naive, atol=1e-6)


def test_fast_dropout_keeps_the_right_share_and_the_mean():
    torch.manual_seed(0)
    drop = Dropout(0.2)
    x = torch.ones(64, 32, 13, 13).contiguous(memory_format=torch.channels_last)
    y = drop(x)
    assert abs((y == 0).float().mean().item() - 0.2) < 0.01
    assert abs(y.mean().item() - 1) < 0.02
    assert set(torch.unique(y).tolist()) == {0.0, 1.25}
    assert torch.equal(drop.eval()(x), x)
    flat = Dropout(0.5)(torch.ones(1000, 100))
    assert abs((flat == 0).float().mean().item() - 0.5) < 0.01


def test_flatten_sends_a_channels_last_gradient_back_with_the_same_values():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    weights = torch.randn(200)
    grads = {}
    for name, flatten in (("ours", Flatten()), ("stock", torch.nn.Flatten())):
        h = x * 2  # a layer's output, not a leaf: its gradient is passed on as it comes
        h.register_hook(lambda g, name=name: grads.__setitem__(name, g))
        assert torch.equal(flatten(h), h.flatten(1))  # C, H, W order, as before
        (flatten(h) @ weights).sum().backward()
    assert torch.equal(grads["ours"], grads["stock"])
    assert grads["ours"].is_contiguous(memory_format=torch.channels_last)
    assert not grads["stock"].is_contiguous(memory_format=torch.channels_last)  # what the layer avoids


def test_models_cli_json_and_errors():
    proc = run_cli("models", "report-cnn-final", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["name"] == "report-cnn-final"
    assert (summary["trainable_params"], summary["non_trainable_params"], summary["total_params"]) == (
        492446, 6932, 499378)
    assert len(summary["layers"]) == 18
    listing = run_cli("models")
    assert all(name in listing.stdout for name in ("report-ann", "report-cnn-first", "report-cnn-final"))
    assert_clean_error(run_cli("models", "64C3-LR0.08-QQ-F-10"), "'QQ'")
