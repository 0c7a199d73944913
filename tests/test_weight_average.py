"""cnnlib.weight_average: the moving average of the weights (fit's ``ema=`` option)."""
import torch
from torch import nn

from cnnlib.weight_average import WeightAverage


def test_weight_average_follows_the_ema_formula_with_its_warm_up():
    model = nn.Linear(2, 1)
    start = model.weight.detach().clone()
    average = WeightAverage(model, decay=0.9)
    expected = start.clone()
    for t in range(1, 40):
        with torch.no_grad():
            model.weight.add_(1.0)
        average.update(model)
        decay = min(0.9, (1 + t) / (10 + t))  # hand formula
        expected = decay * expected + (1 - decay) * model.weight.detach()
    assert torch.allclose(average.state["weight"], expected, atol=1e-5)
    with average.swapped_in(model):
        assert torch.equal(model.weight, average.state["weight"])
    assert torch.allclose(model.weight, start + 39)  # its own weights back
