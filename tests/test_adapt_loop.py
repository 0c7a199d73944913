"""cnnlib.adapt.loop: the batch stream resumes at any step, the logged means, the weight hash,
the RNG round trip and the argument checks of the adversarial loops."""
import pytest
import torch

from cnnlib.runtime import rng_state, set_rng_state
from cnnlib.adapt.loop import (RunningMeans, batches, check_loop_arguments, 
                               weights_fingerprint)
from cnnlib.data import DeviceLoader, ImageDataset


def data(n=10):
    images = torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return ImageDataset(images, torch.arange(n), [str(k) for k in range(n)], stats=([0.0], [1 / 255]))


def test_batches_are_the_passes_of_a_device_loader_epoch_after_epoch():
    # The oracle: DeviceLoader itself, epoch 0, 1, 2, ... (each pass has its own shuffle).
    loader = DeviceLoader(data(), 4, shuffle=True, drop_last=True, device="cpu", seed=7)
    expected = []
    for epoch in range(3):
        loader.epoch = epoch
        expected += [labels.tolist() for _, labels in loader]
    stream = batches(data(), 4, device="cpu", seed=7)
    got = [next(stream)[1].tolist() for _ in range(6)]  # 2 batches a pass (10 // 4, drop_last)
    assert got == expected
    assert got[0] != got[2] or got[1] != got[3]  # a fresh shuffle on the second pass


@pytest.mark.parametrize("start", [0, 1, 2, 3, 5])
def test_batches_started_at_k_continue_the_stream_from_batch_k(start):
    whole = batches(data(), 4, device="cpu", seed=1)
    reference = [next(whole)[1].tolist() for _ in range(8)]
    resumed = batches(data(), 4, device="cpu", seed=1, start=start)
    assert [next(resumed)[1].tolist() for _ in range(8 - start)] == reference[start:]


def test_batches_refuse_data_smaller_than_a_batch():
    with pytest.raises(ValueError, match="3 images, fewer than one batch of 4: use a smaller batch_size"):
        batches(data(3), 4, device="cpu", seed=0)


def test_running_means_average_each_window_and_stop_on_a_non_finite_loss():
    means = RunningMeans()
    means.add({"a": 1.0, "b": 4.0})
    means.add({"a": 2.0, "b": 0.0})
    assert means.row(2) == {"step": 2, "a": 1.5, "b": 2.0}
    means.add({"a": 5.0, "b": 1.0})
    assert means.row(3) == {"step": 3, "a": 5.0, "b": 1.0}  # a new window
    means.add({"a": float("nan"), "b": 1.0})
    with pytest.raises(FloatingPointError, match=r"a became nan by step 4 \(learning rate 0.1\)"):
        means.row(4, lr=0.1)


def test_weights_fingerprint_follows_the_values_not_only_the_shapes():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    before = weights_fingerprint(net)
    assert weights_fingerprint(net) == before
    with torch.no_grad():
        net[0].weight[0, 0] += 1e-3  # same shapes, other values
    changed = weights_fingerprint(net)
    assert changed != before
    net[1].running_mean += 1  # buffers count too
    assert weights_fingerprint(net) != changed


def test_rng_state_round_trip():
    state = rng_state(torch.device("cpu"))
    first = torch.rand(3)
    set_rng_state(state, torch.device("cpu"))
    assert torch.equal(torch.rand(3), first)


@pytest.mark.parametrize("name", ["steps", "log_every", "batch_size"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_loop_arguments_must_be_whole_numbers_of_at_least_one(name, bad):
    good = {"steps": 10, "log_every": 5, "batch_size": 4}
    with pytest.raises(ValueError, match=f"{name} must be a whole number of at least 1"):
        check_loop_arguments(**{**good, name: bad})
    check_loop_arguments(**good)
