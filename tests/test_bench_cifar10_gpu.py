"""bench/cifar10_gpu.py: runs at toy size on any device; hands airbench cnnlib's images."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import cifar10_gpu  # noqa: E402


@pytest.mark.slow
def test_smoke_run_prints_the_time_to_94_line_and_writes_the_figures(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    figures = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cifar10_gpu.py"), "--smoke",
                             "--json", str(figures)],
                            capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    # 1,024 images and one epoch cannot reach 94 %; on the CPU airbench cannot run at all.
    assert lines[-1].startswith("time_to_94 n/a s (airbench94 ")
    assert "published: 2.59 s on an A100 (n=200)" in result.stdout
    if not torch.cuda.is_available():
        assert "airbench94 not run: airbench needs CUDA" in result.stdout
    saved = json.loads(figures.read_text())  # what make gpu-check reads
    assert saved["train_images"] == 1024 and saved["cnnlib"]["epochs"] == 1
    assert saved["cnnlib"]["time_to_94"] is None and saved["airbench94_time_to_94"] is None
    assert f"test accuracy {saved['cnnlib']['final_acc']:.4f}" in result.stdout


def test_airbench_is_declined_clearly_without_cuda():
    assert cifar10_gpu.airbench_unavailable("cpu") == "airbench needs CUDA"


def test_the_recipe_net_and_its_cutout():
    net = cifar10_gpu.resnet9(width=4)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    cutout = cifar10_gpu.CropFlipCutout(translate=0, size=8, fill=(1, 2, 3))
    images = torch.full((5, 3, 32, 32), 200, dtype=torch.uint8)
    out = cutout(images, torch.Generator().manual_seed(0))
    changed = (out != images).all(1)  # pixels where all three channels were filled
    assert changed.flatten(1).sum(1).tolist() == [64] * 5  # one 8x8 square per image
    assert out.amin((2, 3)).tolist() == [[1, 2, 3]] * 5


def test_airbench_reads_cnnlib_images_unchanged(tmp_path):
    airbench = pytest.importorskip("airbench")
    from cnnlib.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    data = ImageDataset(images, labels, [str(i) for i in range(10)], "cifar10", "test")
    root = cifar10_gpu.write_airbench_data(data, data, tmp_path)
    loader = airbench.CifarLoader(str(root), train=False, batch_size=6, gpu="cpu")
    # airbench keeps images as NCHW fp16 in [0, 1] (channels_last memory); same pixels, same order.
    torch.testing.assert_close(loader.images.float(), images.float() / 255, atol=1e-3, rtol=0)
    assert torch.equal(loader.labels, labels)


def test_airbench_own_timing_is_read_from_its_table():
    pytest.importorskip("airbench")
    import contextlib
    import io

    from airbench.utils import logging_columns_list, print_columns, print_training_details

    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # what train94(verbose=True) prints, by its own code
        print_columns(logging_columns_list, is_head=True)
        print_training_details({"run": 0, "epoch": 1, "train_loss": 0.51, "train_acc": 0.8,
                                "val_acc": 0.9, "total_time_seconds": 1.5}, is_final_entry=False)
        print_training_details({"epoch": "eval", "tta_val_acc": 0.9412,
                                "total_time_seconds": 3.1234}, is_final_entry=True)
    assert cifar10_gpu.parse_airbench_log(log.getvalue()) == {"seconds": 3.1234, "acc": 0.9412}
    with pytest.raises(ValueError, match="no final 'eval' row"):
        cifar10_gpu.parse_airbench_log("warm-up only\n")
