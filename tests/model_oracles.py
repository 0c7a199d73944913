"""Helpers shared by the tests/test_models_*.py files: counting, layouts, non-trivial BN stats."""
import torch
from torch import nn

from cnnlib.inspection import record_outputs


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layout(model: nn.Module) -> list:
    """Parameter and buffer names with shapes, in order: equal layouts load each other's weights."""
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items()]


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> None:
    """Give every BN layer non-trivial statistics, so that eval-mode outputs depend on them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, (lo, hi) in [(m.running_mean, (-0.5, 0.5)), (m.running_var, (0.5, 2.0)),
                                    (m.weight, (0.5, 1.5)), (m.bias, (-0.5, 0.5))]:
                    t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)


def outputs_of(model: nn.Module, modules: dict, x: torch.Tensor) -> dict:
    """The outputs of the given submodules (name -> module) for input x, and the model's."""
    full_name = {id(module): name for name, module in model.named_modules()}  # key -> model's own name
    with record_outputs(model, [full_name[id(m)] for m in modules.values()]) as seen:
        output = model(x)
    return {**{key: seen[full_name[id(m)]] for key, m in modules.items()}, "output": output}


def assert_same_structure_as_torchvision(build_ours, name: str, expected_params: int) -> None:
    """Same parameter names, shapes and order as torchvision's ``name``, and the paper's count.

    Both are built on the meta device: the structure without allocating or initialising weights.
    """
    import torchvision

    with torch.device("meta"):
        ours = build_ours()
        theirs = getattr(torchvision.models, name)()
    assert layout(ours) == layout(theirs)
    assert n_params(ours) == n_params(theirs) == expected_params


def assert_same_outputs_child_by_child(theirs: nn.Module, ours: nn.Module, x: torch.Tensor) -> dict:
    """Load ``theirs``' weights into ``ours`` (strictly: every name and shape must match), then
    compare the output of every top-level child and of the whole model on ``x``."""
    ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        expected = outputs_of(theirs, dict(theirs.named_children()), x)
        got = outputs_of(ours, dict(ours.named_children()), x)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], msg=key)
    return got
