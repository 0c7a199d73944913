"""cnnlib.precision: the format and layout chosen per device (GPUs faked by their capability)."""
import pytest
import torch
from torch import nn

from cnnlib import precision
from cnnlib.precision import (autocast_dtype, make_grad_scaler, precision_name, resolve_precision,
                              speed_up_cuda, use_channels_last)
from cnnlib.runtime import describe_device

# (GPU, compute capability, what it should get). The T4 is the case that went wrong: torch says
# it "supports" bf16 (by emulation, slower than fp32), but it has fp16 tensor cores.
GPUS = [("Tesla K80", (3, 7), None), ("Tesla P100", (6, 0), None), ("GeForce GTX 1080", (6, 1), None),
        ("Tesla V100", (7, 0), torch.float16), ("Tesla T4", (7, 5), torch.float16),
        ("A100", (8, 0), torch.bfloat16), ("RTX 3090", (8, 6), torch.bfloat16),
        ("L4", (8, 9), torch.bfloat16), ("H100", (9, 0), torch.bfloat16)]


def fake_gpu(monkeypatch, name, capability):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    # What the old rule asked: True on every one of these GPUs, emulated or not.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


@pytest.mark.parametrize("name, capability, expected", GPUS)
def test_gpus_get_bf16_from_ampere_fp16_on_tensor_cores_and_fp32_before(monkeypatch, name,
                                                                          capability, expected):
    fake_gpu(monkeypatch, name, capability)
    assert autocast_dtype(torch.device("cuda")) is expected
    assert autocast_dtype("cuda:0") is expected
    # The scaler is on exactly where fp16 is chosen (made for the CPU: there is no real GPU here).
    assert make_grad_scaler("cpu", expected).is_enabled() == (expected is torch.float16)


def test_cpu_gets_bf16_only_where_native_and_other_devices_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert autocast_dtype("cpu") is None
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype("cpu") is torch.bfloat16
    assert autocast_dtype("mps") is None


def test_the_train_module_re_exports_the_one_decision():
    from cnnlib import train

    assert train.autocast_dtype is autocast_dtype


def test_describe_device_names_the_gpu_and_its_precision(monkeypatch):
    fake_gpu(monkeypatch, "Tesla T4", (7, 5))
    assert describe_device("cuda") == (
        "cuda (Tesla T4, compute capability 7.5, fp16 autocast + gradient scaler)")
    fake_gpu(monkeypatch, "NVIDIA A100-SXM4-40GB", (8, 0))
    assert describe_device("cuda") == "cuda (NVIDIA A100-SXM4-40GB, compute capability 8.0, bf16 autocast)"
    fake_gpu(monkeypatch, "Tesla P100", (6, 0))
    assert describe_device("cuda").endswith("compute capability 6.0, fp32)")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert describe_device("cpu") == f"cpu ({torch.get_num_threads()} threads, bf16 autocast)"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert describe_device("cpu") == f"cpu ({torch.get_num_threads()} threads, fp32)"


def test_explicit_precisions_and_a_clear_error_for_others(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision(None, "cpu") is torch.bfloat16
    assert resolve_precision("auto", "cpu") is torch.bfloat16
    assert resolve_precision("fp32", "cpu") is None
    assert resolve_precision("fp16", "cpu") is torch.float16
    with pytest.raises(ValueError, match="use one of 'auto', 'bf16', 'fp16', 'fp32'"):
        resolve_precision("float16", "cpu")
    assert [precision_name(d) for d in (torch.bfloat16, torch.float16, None)] == ["bf16", "fp16", "fp32"]


def test_channels_last_for_conv_nets_on_cpu_and_on_gpus_with_autocast():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    assert use_channels_last(conv, "cpu", None) and use_channels_last(conv, "cpu", torch.bfloat16)
    assert use_channels_last(conv, "cuda", torch.float16)
    assert not use_channels_last(conv, "cuda", None)  # no tensor cores: NHWC only adds transposes
    assert not use_channels_last(mlp, "cpu", None) and not use_channels_last(mlp, "cuda", torch.bfloat16)
    assert not use_channels_last(conv, "mps", None)


def test_speed_up_cuda_sets_the_cuda_switches_and_leaves_the_cpu_alone(monkeypatch):
    for flag in ("benchmark", "allow_tf32"):
        monkeypatch.setattr(torch.backends.cudnn, flag, False)  # restored after the test
    matmul = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        speed_up_cuda("cpu")
        assert not torch.backends.cudnn.benchmark
        assert torch.get_float32_matmul_precision() == "highest"
        speed_up_cuda("cuda")
        assert torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"  # TF32 matmuls
    finally:
        torch.set_float32_matmul_precision(matmul)


def test_fp16_with_the_scaler_trains_and_bf16_autocast_changes_the_compute_dtype():
    # An independent check of the pieces fit combines: the scaler's step equals a plain step
    # once the gradients are unscaled (here on the CPU, where fp16 autocast also exists).
    torch.manual_seed(0)
    net = nn.Linear(8, 2)
    twin = nn.Linear(8, 2)
    twin.load_state_dict(net.state_dict())
    x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
    scaler = make_grad_scaler("cpu", torch.float16)
    opt, twin_opt = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (net, twin))
    scaler.scale(nn.functional.cross_entropy(net(x), y)).backward()
    scaler.step(opt)
    scaler.update()
    nn.functional.cross_entropy(twin(x), y).backward()
    twin_opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b)
    assert scaler.get_scale() == 65536.0  # nothing overflowed: the scale is kept
    with precision.autocast("cpu", torch.bfloat16):
        assert net(x).dtype is torch.bfloat16
    with precision.autocast("cpu", None):
        assert net(x).dtype is torch.float32


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 4))


def test_fit_follows_the_device_choice_and_records_it(monkeypatch, tiny_dataset):
    from cnnlib.train import fit

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    history = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, progress=False, device="cpu")
    assert history.settings["precision"] == "fp32" and history.settings["world_size"] == 1
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    history = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, progress=False, device="cpu")
    assert history.settings["precision"] == "bf16"
    with pytest.raises(ValueError, match="is not a precision"):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, progress=False, device="cpu",
            precision="half")


def test_an_fp16_run_resumes_exactly_because_the_scale_is_in_the_checkpoint(monkeypatch,
                                                                             tiny_dataset, tmp_path):
    from cnnlib import train

    # A scaler that starts far too high and re-tries a higher scale after every good step: it
    # skips the first steps (overflow) while halving down, then overflows every other step. A
    # resumed run that started again from the initial scale would skip other steps than the
    # straight run and end with other weights (checked: it does, without the saved scale).
    def eager_scaler(device, dtype):
        return torch.amp.GradScaler(torch.device(device).type, enabled=dtype is torch.float16,
                                    init_scale=2.0**24, growth_interval=1)

    monkeypatch.setattr(train, "make_grad_scaler", eager_scaler)
    kwargs = dict(epochs=3, lr=0.05, batch_size=32, progress=False, device="cpu", seed=3,
                  precision="fp16")
    straight = small_net()
    train.fit(straight, tiny_dataset, **kwargs)

    path = tmp_path / "run.pt"

    def interrupt(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.fit(small_net(), tiny_dataset, checkpoint=path, on_epoch_end=interrupt, **kwargs)
    scale = torch.load(path, weights_only=True)["state"]["scaler"]["scale"]
    assert scale < 2.0**20  # the scale moved, so restoring it matters
    resumed = small_net(seed=9)
    history = train.fit(resumed, tiny_dataset, checkpoint=path, **kwargs)
    assert history.settings["precision"] == "fp16" and len(history) == 3
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_the_fused_optimisers_fit_uses_on_cuda_take_the_same_steps(kind):
    from cnnlib.train import make_optimizer

    torch.manual_seed(0)
    plain, fused = nn.Linear(4, 3), nn.Linear(4, 3)
    fused.load_state_dict(plain.state_dict())
    optimisers = [make_optimizer(plain, kind, 0.1, 0.9, 5e-4),
                  make_optimizer(fused, kind, 0.1, 0.9, 5e-4, fused=True)]
    assert optimisers[1].defaults["fused"] and not optimisers[0].defaults["fused"]
    for _ in range(3):
        x = torch.randn(8, 4)
        for model, opt in zip((plain, fused), optimisers):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(plain.parameters(), fused.parameters()):
        torch.testing.assert_close(a, b)


# --------------------------------------------------------------------------------------
# On a real GPU (skipped without one; run them where a GPU is lent)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_on_a_real_gpu_fit_trains_in_the_precision_its_capability_asks_for(tiny_dataset):
    from cnnlib.train import fit

    history = fit(small_net(), tiny_dataset, epochs=2, lr=0.05, progress=False, device="cuda")
    expected = precision_name(autocast_dtype("cuda"))
    assert history.settings["precision"] == expected != "fp32"  # every GPU since 2017 has one
    assert history.settings["channels_last"] and torch.backends.cudnn.benchmark
    assert history.last["train_loss"] < history[0]["train_loss"]


@needs_cuda
@pytest.mark.parametrize("forced", [None, "fp16", "fp32"])
def test_on_a_real_gpu_no_step_waits_for_the_gpu_between_the_finite_checks(monkeypatch, forced,
                                                                           tiny_dataset):
    """torch's sync debug mode raises at any operation that makes the CPU wait for the GPU. It
    is on from each loader's second batch to its last, except inside the finite-loss check
    (every 20 steps, a deliberate sync), so every training and evaluation step is checked."""
    from cnnlib import train
    from cnnlib.data import Augment, DeviceLoader

    real_iter, real_check = DeviceLoader.__iter__, train._check_finite

    def strict_iter(self):
        batches = real_iter(self)
        first = next(batches)  # the epoch's shuffle goes to the GPU here, once per epoch
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield first
            yield from batches
        finally:
            torch.cuda.set_sync_debug_mode("default")

    def lenient_check(*args):
        torch.cuda.set_sync_debug_mode("default")
        real_check(*args)
        torch.cuda.set_sync_debug_mode("error")

    monkeypatch.setattr(DeviceLoader, "__iter__", strict_iter)
    monkeypatch.setattr(train, "_check_finite", lenient_check)
    data, val = tiny_dataset.split_off(64)
    model = small_net()
    train.fit(model, data, epochs=2, lr=0.05, batch_size=16, augment=Augment(translate=2, flip=True),
              precision=forced, progress=False, device="cuda")
    result = train.evaluate(model, val, batch_size=16, precision=forced)
    assert 0 <= result["acc"] <= 1
