"""cnnlib.distributed and fit under torchrun: 2 CPU processes (gloo) compute what 1 process does.

The processes are spawned here with the environment torchrun would give them (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT), and call ``fit`` exactly as a single process would: fit
itself must notice torchrun's environment and join the process group.

Tolerance for "the same weights": a 2-process run adds the two slices' gradients in another
order than one process adding the whole batch's, so the float32 weights agree to rounding
(rtol 1e-5, atol 1e-6 after 30 steps), not bit for bit. The same run repeated on the same
number of processes agrees bit for bit.
"""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from cnnlib import distributed
from cnnlib.data import ImageDataset
from cnnlib.distributed import World, shard, shard_bounds
from cnnlib.train import fit

SETTINGS = dict(epochs=3, lr=0.05, batch_size=32, seed=4, precision="fp32", progress=False,
                device="cpu")
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def quadrants(n: int, seed: int) -> ImageDataset:
    """A learnable data set: the class is the bright quadrant of a 3x12x12 image."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.randint(0, 60, (n, 3, 12, 12), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * 6:(r + 1) * 6, c * 6:(c + 1) * 6] += 150
    return ImageDataset(images, labels, ["tl", "tr", "bl", "br"], "quadrants", "train")


TRAIN, VAL = quadrants(330, seed=0), quadrants(65, seed=1)  # 10 batches of 32; 65 = 32 + 33


def tiny_net() -> nn.Module:
    torch.manual_seed(123)  # deliberately not fit's seed: DDP must copy rank 0's weights
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 6 * 6, 4))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, folder, kill_after_epoch):
    """One torchrun-like process: the environment torchrun sets, then a plain ``fit``."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from cnnlib import train

    saves = []
    real_save = train.save_checkpoint

    def counting_save(*args, **kwargs):
        saves.append(rank)
        real_save(*args, **kwargs)

    train.save_checkpoint = counting_save

    def on_epoch_end(epoch, row):
        if epoch == kill_after_epoch and rank == 0:
            os._exit(3)  # killed: no clean-up, no exception handling

    model = tiny_net()
    trained_on = []  # the size of every batch this process trains on
    model.register_forward_pre_hook(
        lambda module, args: trained_on.append(len(args[0])) if module.training else None)
    history = train.fit(model, TRAIN, VAL, checkpoint=os.path.join(folder, "run.pt"),
                        on_epoch_end=on_epoch_end, **SETTINGS)
    torch.save({"weights": model.state_dict(), "rows": history.rows, "saves": len(saves),
                "settings": history.settings, "trained_on": trained_on},
               os.path.join(folder, f"rank{rank}.pt"))
    distributed.leave()


def run_two_processes(folder, kill_after_epoch=None):
    mp.spawn(_worker, args=(2, free_port(), str(folder), kill_after_epoch), nprocs=2)
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


def assert_same_rows(rows, expected, **tolerance):
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in expected]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        torch.testing.assert_close(torch.tensor([r[key] for r in rows], dtype=torch.float64),
                                   torch.tensor([r[key] for r in expected], dtype=torch.float64),
                                   **tolerance)


@pytest.fixture(scope="module")
def one_process():
    """The reference: the same call in this single process."""
    model = tiny_net()
    history = fit(model, TRAIN, VAL, **SETTINGS)
    return model.state_dict(), history.rows


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The same call in two processes (torchrun's environment, gloo), and its folder."""
    folder = tmp_path_factory.mktemp("two")
    return run_two_processes(folder), folder


def without_timing(rows):
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in rows]


@pytest.mark.slow
def test_two_processes_train_the_weights_one_process_trains(two_processes, one_process):
    weights, rows = one_process
    ranks, folder = two_processes
    for rank in ranks:
        for name, tensor in weights.items():
            torch.testing.assert_close(rank["weights"][name], tensor, **TOLERANCE)
        # The history is the global one: the same losses and accuracies as one process's.
        assert_same_rows(rank["rows"], rows, rtol=1e-5, atol=1e-6)
        assert rank["settings"]["world_size"] == 2
    # Each process trained on its half of every global batch of 32 (3 epochs of 10 batches).
    assert ranks[0]["trained_on"] == ranks[1]["trained_on"] == [16] * 30
    # The two processes hold identical copies, bit for bit.
    for name in weights:
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name])
    assert rows[-1]["val_acc"] > 0.9  # it learned (so the comparison is not of untrained nets)
    # Only rank 0 wrote the checkpoint (once per epoch); rank 1 never did.
    assert (ranks[0]["saves"], ranks[1]["saves"]) == (3, 0)
    assert sorted(p.name for p in folder.iterdir()) == ["rank0.pt", "rank1.pt", "run.pt"]
    saved = torch.load(folder / "run.pt", weights_only=True)
    assert all(not k.startswith("module.") for k in saved["state"]["model"])  # no DDP wrapper


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_on_one_or_on_two_processes(tmp_path, one_process,
                                                                     two_processes):
    weights, rows = one_process
    straight, _ = two_processes
    killed = tmp_path
    with pytest.raises(mp.ProcessExitedException):
        run_two_processes(killed, kill_after_epoch=0)  # rank 0 dies right after saving epoch 1
    checkpoint = torch.load(killed / "run.pt", weights_only=True)
    assert checkpoint["progress"] == 1 and not checkpoint["finished"]

    # On one process (a copy of the checkpoint, to resume it twice).
    alone = tmp_path / "alone.pt"
    alone.write_bytes((killed / "run.pt").read_bytes())
    model = tiny_net()
    history = fit(model, TRAIN, VAL, checkpoint=alone, **SETTINGS)
    assert history.settings["resumed_from_epoch"] == 1
    for name, tensor in weights.items():
        torch.testing.assert_close(model.state_dict()[name], tensor, **TOLERANCE)
    assert_same_rows(history.rows, rows, rtol=1e-5, atol=1e-6)

    # On two processes again: bit for bit what the uninterrupted two-process run gave.
    resumed = run_two_processes(killed)
    for name in weights:
        assert torch.equal(resumed[0]["weights"][name], straight[0]["weights"][name])
    assert without_timing(resumed[0]["rows"]) == without_timing(straight[0]["rows"])


def _own_checkpoint_worker(rank, world_size, port, folder):
    """A rank that reads its own copy of the checkpoint (as on machines without a shared disk)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        fit(tiny_net(), TRAIN, VAL, checkpoint=os.path.join(folder, f"run{rank}.pt"), **SETTINGS)
    finally:
        distributed.leave()


def test_ranks_that_restore_different_states_at_the_same_epoch_stop_with_a_clear_error(tmp_path):
    def interrupt(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_net(), TRAIN, VAL, checkpoint=tmp_path / "run0.pt", on_epoch_end=interrupt, **SETTINGS)
    other = torch.load(tmp_path / "run0.pt", weights_only=True)
    first = next(iter(other["state"]["model"]))
    other["state"]["model"][first] += 0.01  # the same epoch, other weights
    torch.save(other, tmp_path / "run1.pt")
    with pytest.raises(mp.ProcessRaisedException, match="restored different states"):
        mp.spawn(_own_checkpoint_worker, args=(2, free_port(), str(tmp_path)), nprocs=2)


def test_shards_are_disjoint_contiguous_and_cover_the_batch():
    for n, size in [(10, 3), (32, 2), (33, 2), (1, 2), (7, 7)]:
        bounds = [shard_bounds(n, World(rank, size)) for rank in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        sizes = [stop - start for start, stop in bounds]
        assert max(sizes) - min(sizes) <= 1
    x, y = torch.arange(10).reshape(10, 1), torch.arange(10)
    assert shard(x, y, World(1, 3))[1].tolist() == [3, 4, 5]
    assert shard(x, y, World())[1] is y  # alone: the whole batch, untouched


def test_alone_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = distributed.join("cpu")
    assert world == World() and world.is_main
    t = torch.tensor([1.0, 2.0])
    assert world.all_reduce_sum(t) is t and t.tolist() == [1.0, 2.0]
    net = nn.Linear(2, 2)
    assert distributed.wrap_model(net, "cpu", world) is net
    assert distributed.local_device("cuda", world) == torch.device("cuda")
    assert distributed.local_device("cuda", World(3, 4, local_rank=1)) == torch.device("cuda", 1)
    assert distributed.local_device("cuda:0", World(3, 4, local_rank=1)) == torch.device("cuda", 0)


def test_clear_errors_for_batches_too_small_to_split_and_sync_batchnorm_on_cpu():
    from cnnlib.train import check_batch_splits

    with pytest.raises(ValueError, match="batch of 3 images cannot be split over 4 processes"):
        check_batch_splits(3, 4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="sync_batchnorm=True needs CUDA GPUs"):
        distributed.wrap_model(net, "cpu", World(0, 2), sync_batchnorm=True)


def test_sync_batchnorm_conversion_keeps_the_parameters_and_the_checkpoint_keys():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                        nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)))
    keys, params = list(net.state_dict()), list(net.parameters())
    distributed._convert_batchnorm_in_place(net)
    assert isinstance(net[1], nn.SyncBatchNorm) and isinstance(net[2][1], nn.SyncBatchNorm)
    assert not any(type(m) is nn.BatchNorm2d for m in net.modules())
    assert list(net.state_dict()) == keys  # a checkpoint still loads
    assert all(a is b for a, b in zip(net.parameters(), params))  # the optimiser's, unchanged
