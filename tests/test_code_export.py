"""The dashboard's code pane: the exported lab code and plain PyTorch model reproduce the run."""

import pytest
import torch

import lab
from lab.export import lab_code, torch_code


def test_exported_pytorch_model_computes_what_the_lab_model_computes():
    for cfg in (lab.Config(depth=3, width=8, residual=True, batchnorm="before", dropout=0.2,
                           activation="gelu"),
                lab.Config(arch="cnn", dataset="digits", depth=2, width=4,
                           batchnorm="after", activation="leaky_relu")):
        namespace = {}
        exec(torch_code(cfg), namespace)
        theirs, ours = namespace["model"], lab.build_model(cfg)
        assert [p.shape for p in theirs.parameters()] == [p.shape for p in ours.parameters()]
        with torch.no_grad():
            for a, b in zip(theirs.parameters(), ours.parameters(), strict=True):
                a.copy_(b)
        theirs.eval()
        ours.eval()
        x = lab.data.load(cfg).x_val[:16]
        torch.testing.assert_close(theirs(x), ours(x))


@pytest.mark.parametrize("cfg", [
    lab.Config(depth=20, activation="sigmoid", init="xavier_normal", lr=0.0123),
    lab.Config(optimizer="rmsprop", lr_schedule="plateau", standardize="unit"),
    lab.Config(standardize=False, early_stopping=4, restore_best=True),
])
def test_exported_lab_code_reproduces_the_config(cfg):
    namespace = {}
    exec(lab_code(cfg).replace("run = lab.train(cfg)", "").replace(
        "print(run.summary())", ""), namespace)
    assert namespace["cfg"] == cfg
