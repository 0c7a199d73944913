"""cnnlib.data.datasets: loading from the offline folder, the cache, and failing clearly."""
import gzip
import hashlib
import io
import os
import tarfile
import warnings

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from torchvision.transforms import v2

from cnnlib.data import DataCorruptError, DataUnavailableError, ImageDataset, load_dataset, normalise
from cnnlib.data import datasets as datasets_module
from cnnlib.runtime import CacheDirError


requires_offline_data = pytest.mark.skipif(
    not os.path.isdir(os.environ.get("CNNLIB_DATA", "/nonexistent")),
    reason="set CNNLIB_DATA to the book's shared/data folder")


# ----------------------------------------------------------------------------------------
# A small offline folder in the book's shared/data layout, made by the tests themselves

def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


ALL_FILES = [f for files in (v[1] for v in datasets_module.DATASETS.values()) for f in files]


def write_sums(root, files=ALL_FILES):
    """The folder's SHA256SUMS, for ``files`` as they are now (after a test changed one)."""
    lines = [f"{hashlib.sha256((root / f).read_bytes()).hexdigest()}  {f}" for f in files]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def write_mnist(root, images, labels):
    """MNIST's two offline files: ``images`` and ``labels`` as gzipped IDX files, in that order."""
    (root / "mnist/t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (root / "mnist/t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


def write_cifar(root, members):
    """The CIFAR-10 archive holding ``members``: {name: bytes}."""
    with tarfile.open(root / "cifar10/cifar10_jpg.tar.gz", "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def jpeg(seed=0, size=32):
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An offline data folder with 100 MNIST-like, 30+10 USPS-like and 20+10 CIFAR-like images."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    (root / "mnist").mkdir(parents=True)
    mnist_images = rng.integers(0, 256, (100, 28, 28), dtype=np.uint8)
    mnist_labels = np.arange(100) % 10
    write_mnist(root, mnist_images, mnist_labels)
    (root / "usps").mkdir()
    with h5py.File(root / "usps/usps.h5", "w") as f:
        for split, n in (("train", 30), ("test", 10)):
            f.create_dataset(f"{split}/data", data=rng.random((n, 256), dtype=np.float32))
            f.create_dataset(f"{split}/target", data=(np.arange(n) % 10).astype(np.int32))
    (root / "cifar10").mkdir()
    cifar_pixels = {}
    with tarfile.open(root / "cifar10/cifar10_jpg.tar.gz", "w:gz") as tar:
        for split, n in (("train", 20), ("test", 10)):
            for i in range(n):
                cls = datasets_module.CIFAR10_CLASSES[i % 10]
                buffer = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=75)
                name = f"{split}/{cls}/{i:04d}.jpg"
                info = tarfile.TarInfo(name)
                info.size = len(buffer.getvalue())
                tar.addfile(info, io.BytesIO(buffer.getvalue()))
                cifar_pixels[name] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    write_sums(root)
    monkeypatch.setenv("CNNLIB_DATA", str(root))
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets_module, "_download", lambda name: None)  # tests never go online
    return {"root": root, "mnist": (mnist_images, mnist_labels), "cifar": cifar_pixels,
            "cache": tmp_path / "cache"}


def test_usps_matches_the_hdf5_file(offline):
    train = load_dataset("usps", "train")
    assert train.images.shape == (30, 1, 16, 16) and train.images.dtype == torch.uint8
    with h5py.File(offline["root"] / "usps/usps.h5") as f:
        expected = np.round(f["train/data"][:] * 255).reshape(30, 1, 16, 16)
        assert np.array_equal(train.images.numpy(), expected)
        assert train.labels.tolist() == f["train/target"][:].tolist()
    assert len(load_dataset("usps", "test")) == 10


def test_cifar_decodes_like_pil(offline):
    train = load_dataset("cifar10", "train")
    assert train.images.shape == (20, 3, 32, 32)
    assert train.classes[0] == "airplane" and len(train.classes) == 10
    # Images are ordered by class, then by file name: train/airplane/0000.jpg comes first.
    expected = offline["cifar"]["train/airplane/0000.jpg"]
    got = train.images[0].permute(1, 2, 0).numpy().astype(int)
    # libjpeg versions may differ by a grey level or two; anything more is a decoding bug.
    assert np.abs(got - expected.astype(int)).max() <= 2
    assert train.labels.bincount().tolist() == [2] * 10


def test_offline_mnist_is_a_fixed_disjoint_split_with_a_warning(offline):
    with pytest.warns(UserWarning, match="its 10,000 official test images, split into 8,000"):
        train = load_dataset("mnist", "train")
    with pytest.warns(UserWarning):
        test = load_dataset("mnist", "test")
    assert train.images.shape[1:] == (1, 28, 28)
    images, labels = offline["mnist"]
    # Every original image appears in exactly one split.
    all_images = torch.cat([train.images, test.images]).reshape(100, -1)
    original = torch.from_numpy(images).reshape(100, -1)
    matches = (all_images[:, None, :] == original[None, :, :]).all(-1)
    assert matches.sum(0).tolist() == [1] * 100
    assert sorted(torch.cat([train.labels, test.labels]).tolist()) == sorted(labels.tolist())


def test_second_load_comes_from_the_cache(offline, monkeypatch):
    first = load_dataset("usps", "train")
    assert len(list(offline["cache"].glob("usps-offline-*.pt"))) == 1

    def no_decoding(root):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(datasets_module, "_decode_usps", no_decoding)
    second = load_dataset("usps", "train")
    assert torch.equal(first.images, second.images)


def test_test_split_is_normalised_with_training_statistics(offline):
    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    assert test.mean == train.mean and test.std == train.std
    expected = train.images.double().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(torch.tensor(train.mean, dtype=torch.float64), expected)


def test_checksum_mismatch_names_the_file_and_leaves_no_cache(offline):
    path = offline["root"] / "usps/usps.h5"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataCorruptError, match="usps.h5"):
        load_dataset("usps", "train")
    assert not list(offline["cache"].glob("usps*"))


def test_truncated_gzip_with_its_checksum_names_the_file(offline):
    path = offline["root"] / "mnist/t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:2000])
    write_sums(offline["root"])  # the checksum was taken of the damaged file
    with pytest.raises(DataCorruptError, match="t10k-images-idx3-ubyte.gz.*copy a fresh one"):
        load_dataset("mnist", "train")
    assert not list(offline["cache"].glob("mnist*"))


def test_archive_entries_that_escape_are_refused(offline):
    write_cifar(offline["root"], {"../../evil.jpg": b"abc"})
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match="cifar10_jpg.tar.gz: unsafe entry"):
        load_dataset("cifar10", "train")


def test_missing_data_says_both_ways_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets_module, "_download", lambda name: None)
    with pytest.raises(DataUnavailableError) as err:
        load_dataset("cifar10", "train")
    message = str(err.value)
    assert "cifar10/cifar10_jpg.tar.gz" in message and "CNNLIB_DATA" in message
    assert "internet" in message


def test_a_damaged_cache_is_rebuilt(offline):
    load_dataset("usps", "train")
    (cached,) = offline["cache"].glob("usps-*.pt")
    cached.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = load_dataset("usps", "train")
    assert len(again) == 30


def write_usps(path, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for split, n in (("train", 30), ("test", 10)):
            f.create_dataset(f"{split}/data", data=rng.random((n, 256), dtype=np.float32))
            f.create_dataset(f"{split}/target", data=(np.arange(n) % 10).astype(np.int32))


def test_another_data_folder_is_not_answered_from_the_old_cache(offline, monkeypatch, tmp_path):
    first = load_dataset("usps", "train")
    other = tmp_path / "other-data"
    write_usps(other / "usps/usps.h5", seed=1)
    write_sums(other, ["usps/usps.h5"])
    monkeypatch.setenv("CNNLIB_DATA", str(other))
    second = load_dataset("usps", "train")
    with h5py.File(other / "usps/usps.h5") as f:
        expected = np.round(f["train/data"][:] * 255).reshape(30, 1, 16, 16)
    assert np.array_equal(second.images.numpy(), expected)
    assert not torch.equal(first.images, second.images)
    monkeypatch.setenv("CNNLIB_DATA", str(offline["root"]))  # back: the first cache serves again
    monkeypatch.setattr(datasets_module, "_decode_usps", lambda root: pytest.fail("decoded again"))
    assert torch.equal(load_dataset("usps", "train").images, first.images)


def test_a_replaced_file_in_the_same_folder_is_decoded_again(offline):
    load_dataset("usps", "test")
    (offline["root"] / "usps/usps.h5").unlink()
    write_usps(offline["root"] / "usps/usps.h5.new", seed=2)
    (offline["root"] / "usps/usps.h5.new").rename(offline["root"] / "usps/usps.h5")
    write_sums(offline["root"])
    with h5py.File(offline["root"] / "usps/usps.h5") as f:
        expected = np.round(f["test/data"][:] * 255).reshape(10, 1, 16, 16)
    assert np.array_equal(load_dataset("usps", "test").images.numpy(), expected)


def test_a_changed_file_of_the_same_size_and_time_is_not_served_stale(offline):
    # The cache used to be keyed on each file's size and modification time.
    path = offline["root"] / "usps/usps.h5"
    first = load_dataset("usps", "train")
    info = path.stat()
    write_usps(path, seed=3)  # other pixels, the same layout: the same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (info.st_size, info.st_mtime_ns)
    write_sums(offline["root"])
    second = load_dataset("usps", "train")
    with h5py.File(path) as f:
        expected = np.round(f["train/data"][:] * 255).reshape(30, 1, 16, 16)
    assert np.array_equal(second.images.numpy(), expected)
    assert not torch.equal(first.images, second.images)


def test_a_folder_on_another_path_with_the_same_files_shares_the_cache(offline, tmp_path, monkeypatch):
    first = load_dataset("usps", "train")
    moved = tmp_path / "moved"
    offline["root"].rename(moved)
    monkeypatch.setenv("CNNLIB_DATA", str(moved))
    monkeypatch.setattr(datasets_module, "_decode_usps", lambda root: pytest.fail("decoded again"))
    assert torch.equal(load_dataset("usps", "train").images, first.images)


@pytest.mark.parametrize("sums", ["without the file's line", "no SHA256SUMS"])
def test_a_file_not_in_SHA256SUMS_is_refused_with_the_line_to_add(offline, sums):
    # It used to be decoded unverified, without a word.
    root = offline["root"]
    if sums == "no SHA256SUMS":
        (root / "SHA256SUMS").unlink()
    else:
        write_sums(root, [f for f in ALL_FILES if f != "usps/usps.h5"])
    with pytest.raises(DataCorruptError, match=r"usps.h5: not listed in .*SHA256SUMS.*"
                                               r"sha256sum usps/usps.h5 >> SHA256SUMS"):
        load_dataset("usps", "train")
    assert not list(offline["cache"].glob("usps*"))
    load_dataset("cifar10", "train") if sums != "no SHA256SUMS" else None  # listed: still loads


def test_swapped_mnist_files_are_named(offline):
    # The images file where the labels belong used to give a raw error far from the cause.
    images, labels = offline["mnist"]
    write_mnist(offline["root"], labels, images)
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match=r"t10k-images-idx3-ubyte.gz: it holds labels "
                                               r"\(magic number 0x00000801\).*swapped.*CNNLIB_DATA"):
        load_dataset("mnist", "train")


def test_mnist_files_of_different_counts_name_the_labels_file(offline):
    images, labels = offline["mnist"]
    write_mnist(offline["root"], images, labels[:50])
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match="t10k-labels-idx1-ubyte.gz: it has 50 labels but "
                                               "t10k-images-idx3-ubyte.gz has 100 images"):
        load_dataset("mnist", "train")


def test_mnist_labels_outside_0_to_9_are_refused(offline):
    images, labels = offline["mnist"]
    write_mnist(offline["root"], images, labels + 200)
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match="labels run from 200 to 209, not 0-9"):
        load_dataset("mnist", "train")


def test_an_idx_file_is_not_unpacked_past_the_size_limit(offline, monkeypatch):
    monkeypatch.setattr(datasets_module, "MAX_IDX_BYTES", 10_000)  # the test images are 78,416
    with pytest.raises(DataCorruptError, match="t10k-images-idx3-ubyte.gz: it unpacks to more than"):
        load_dataset("mnist", "train")


def test_a_truncated_cifar_archive_names_the_file_and_what_to_do(offline):
    path = offline["root"] / "cifar10/cifar10_jpg.tar.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match=r"cifar10_jpg.tar.gz: not a readable tar.gz archive, "
                                               r"or a truncated one.*CNNLIB_DATA"):
        load_dataset("cifar10", "train")


@pytest.mark.parametrize("members, message", [
    ({"train/unicorn/0000.jpg": jpeg(), "test/cat/0000.jpg": jpeg()},
     r"unexpected entry 'train/unicorn/0000.jpg': the archive should hold train/<class>/NNNN.jpg"),
    ({"cat/0000.jpg": jpeg()}, r"unexpected entry 'cat/0000.jpg'"),
    ({"train/cat/0000.jpg": jpeg()}, r"the archive holds no test/<class>/\*.jpg images"),
    ({"train/cat/0000.jpg": jpeg(), "test/cat/0001.jpg": b"not a jpeg"},
     r"entry 'test/cat/0001.jpg' is not a decodable JPEG"),
    ({"train/cat/0000.jpg": jpeg(), "test/cat/0001.jpg": jpeg(size=40)},
     r"entry 'test/cat/0001.jpg' is 40x40, not 32x32"),
])
def test_a_cifar_archive_of_the_wrong_layout_names_the_entry(offline, members, message):
    write_cifar(offline["root"], members)
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match=r"cifar10_jpg.tar.gz: " + message + ".*CNNLIB_DATA"):
        load_dataset("cifar10", "train")


def test_a_huge_archive_member_is_refused_before_it_is_read(offline, monkeypatch):
    # A 1 MB "JPEG" of zeros stands for the 200 MB one: both used to be read whole.
    write_cifar(offline["root"], {"train/cat/0000.jpg": jpeg(), "train/cat/0001.jpg": bytes(1 << 20),
                                  "test/cat/0000.jpg": jpeg()})
    write_sums(offline["root"])
    extract = tarfile.TarFile.extractfile

    def guarded(archive, member):
        assert member.size <= datasets_module.MAX_MEMBER_BYTES, "read before its size was checked"
        return extract(archive, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", guarded)
    with pytest.raises(DataCorruptError, match=r"entry 'train/cat/0001.jpg' is 1,048,576 bytes, far "
                                               r"more than a 32×32 JPEG"):
        load_dataset("cifar10", "train")


def test_a_usps_file_of_the_wrong_shape_names_the_file(offline):
    path = offline["root"] / "usps/usps.h5"
    with h5py.File(path, "w") as f:
        for split in ("train", "test"):
            f.create_dataset(f"{split}/data", data=np.zeros((10, 100), dtype=np.float32))
            f.create_dataset(f"{split}/target", data=np.zeros(10, dtype=np.int32))
    write_sums(offline["root"])
    with pytest.raises(DataCorruptError, match=r"usps.h5: its train data are \(10, 100\)"):
        load_dataset("usps", "train")


@pytest.mark.parametrize("damage", ["a missing key", "float images", "fewer labels", "a NaN mean"])
def test_a_cache_file_missing_part_of_a_data_set_is_rebuilt_with_a_warning(offline, damage):
    # A cache without "test_labels" used to raise a raw KeyError on every load.
    load_dataset("usps", "train")
    (cached,) = offline["cache"].glob("usps-*.pt")
    data = torch.load(cached, weights_only=True)
    if damage == "a missing key":
        del data["test_labels"]
    elif damage == "float images":
        data["train_images"] = data["train_images"].float()
    elif damage == "fewer labels":
        data["test_labels"] = data["test_labels"][:3]
    else:
        data["mean"] = [float("nan")]
    torch.save(data, cached)
    with pytest.warns(UserWarning, match=rf"damaged cache {cached}: its? "):
        again = load_dataset("usps", "test")
    assert len(again) == 10
    assert torch.load(cached, weights_only=True)["test_labels"].shape == (10,)  # rebuilt on disk


def test_a_read_only_cache_fails_before_decoding_and_says_what_to_do(offline, monkeypatch, read_only_folder):
    monkeypatch.setenv("CNNLIB_CACHE", str(read_only_folder))
    monkeypatch.setattr(datasets_module, "_decode_usps", lambda root: pytest.fail("decoded first"))
    with pytest.raises(CacheDirError, match="Set CNNLIB_CACHE"):
        load_dataset("usps", "train")


def test_a_cache_path_that_is_a_file_is_a_clear_error(offline, monkeypatch):
    (offline["root"] / "a-file").write_text("")
    monkeypatch.setenv("CNNLIB_CACHE", str(offline["root"] / "a-file"))
    with pytest.raises(CacheDirError, match="is a file, not a folder"):
        load_dataset("usps", "train")


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="needs the name of a data set, got None; choose one of mnist"):
        load_dataset(None)
    with pytest.raises(ValueError, match="choose one of mnist, usps, cifar10"):
        load_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("mnist", "validation")


def test_subset_and_split_off_are_disjoint_and_seeded(tiny_dataset):
    rest, held = tiny_dataset.split_off(56, seed=1)
    assert len(rest) == 200 and len(held) == 56
    both = torch.cat([rest.images, held.images]).reshape(256, -1)
    assert torch.unique(both, dim=0).shape[0] == torch.unique(tiny_dataset.images.reshape(256, -1), dim=0).shape[0]
    assert torch.equal(tiny_dataset.subset(10, seed=3).images, tiny_dataset.subset(10, seed=3).images)
    with pytest.raises(ValueError):
        tiny_dataset.subset(1000)


def test_normalised_images_match_torchvision(tiny_dataset):
    expected = v2.functional.normalize(tiny_dataset.images.float() / 255, list(tiny_dataset.mean),
                                       list(tiny_dataset.std))
    assert torch.allclose(tiny_dataset.normalised(), expected, atol=1e-6)
    some = tiny_dataset.images[:5]
    assert torch.allclose(normalise(some, tiny_dataset.mean, tiny_dataset.std), expected[:5], atol=1e-6)
    # floats on the 0-255 scale (a resized photo, say) are normalised the same way
    assert torch.allclose(normalise(some.float(), tiny_dataset.mean, tiny_dataset.std), expected[:5], atol=1e-6)


def test_normalise_checks_its_statistics():
    images = torch.full((2, 3, 4, 4), 7, dtype=torch.uint8)
    with pytest.raises(ValueError, match="mean has 1 value.*3 channel"):
        normalise(images, [0.5], [0.2])
    with pytest.raises(ValueError, match="not negative"):
        normalise(images, [0.5] * 3, [0.2, -0.2, 0.2])
    # A constant channel (std 0) is centred, not divided by zero: no NaN, no infinity.
    out = normalise(images, [7 / 255] * 3, [0.0] * 3)
    assert torch.equal(out, torch.zeros_like(out))


def test_image_dataset_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2), ["a"])


# ----------------------------------------------------------------------------------------
# The real offline data (the book's shared/data folder), when CNNLIB_DATA points at it

@requires_offline_data
def test_real_offline_data_sets_have_their_published_sizes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sizes = {(name, split): load_dataset(name, split).images.shape
                 for name in ("mnist", "usps", "cifar10") for split in ("train", "test")}
    assert sizes[("cifar10", "train")] == (50000, 3, 32, 32)
    assert sizes[("cifar10", "test")] == (10000, 3, 32, 32)
    assert sizes[("usps", "train")] == (7291, 1, 16, 16)
    assert sizes[("usps", "test")] == (2007, 1, 16, 16)
    assert sizes[("mnist", "train")][0] + sizes[("mnist", "test")][0] == 10000
    assert load_dataset("cifar10", "test").labels.bincount().tolist() == [1000] * 10
