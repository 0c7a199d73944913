"""Shared fixtures for the unit tests."""
import os

import pytest
import torch

# One thread per pytest-xdist worker (make quick/unit/test start one per core), else up to two.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def tiny_dataset():
    """A learnable synthetic data set: the class is which quadrant of the image is bright."""
    from cnnlib.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    n = 256
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.randint(0, 60, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] += 150
    return ImageDataset(images, labels, ["tl", "tr", "bl", "br"], "tiny", "train")


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot write to: chmod 555, or for root (who ignores file modes)
    sysfs; the test is skipped when there is neither."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (str(folder), "/sys/kernel"):
        probe = os.path.join(candidate, "probe")
        try:
            with open(probe, "wb"):
                pass
            os.remove(probe)
        except OSError:
            yield candidate
            break
    else:
        pytest.skip("no read-only folder available")
    folder.chmod(0o755)
