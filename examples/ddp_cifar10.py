"""Train a CIFAR-10 ResNet on several GPUs or machines with ``torchrun`` and ``cnnlib.train.fit``.

The script is an ordinary ``fit`` call: started by torchrun, ``fit`` joins the process group,
gives each process its slice of every batch and lets rank 0 alone print and save. Run it

    # one machine, all its GPUs (here 4):
    torchrun --standalone --nproc_per_node=4 examples/ddp_cifar10.py
    # two machines with 4 GPUs each; run on both, with MASTER = the first machine's address:
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=MASTER:29500 \
        --rdzv_id=cifar10 examples/ddp_cifar10.py --checkpoint /shared/cifar10_resnet20.pt
    # without torchrun (one process) it trains as usual; --smoke: a few seconds, also on CPUs:
    torchrun --standalone --nproc_per_node=2 examples/ddp_cifar10.py --smoke

Kill it and start the same command again: it resumes from the checkpoint (after the last
finished epoch), on any number of processes. With several machines the checkpoint path must be
on a file system they all see.
"""
from __future__ import annotations

import argparse

from cnnlib import distributed
from cnnlib.data import Augment, load_dataset
from cnnlib.models.cifar_resnet import cifar_resnet
from cnnlib.runtime import seed_everything
from cnnlib.train import fit


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="CIFAR-10 ResNet-20 with fit under torchrun")
    parser.add_argument("--epochs", type=int, default=None, help="default 30 (--smoke: 2)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the global batch, split over the processes; default 512 (--smoke: 128)")
    parser.add_argument("--lr", type=float, default=0.4,
                        help="the peak learning rate for a batch of 512, scaled in proportion to "
                             "--batch-size (the linear scaling rule)")
    parser.add_argument("--checkpoint", default=None,
                        help="default: ddp_cifar10.pt (--smoke: ddp_cifar10_smoke.pt)")
    parser.add_argument("--sync-batchnorm", action="store_true",
                        help="batch norm statistics over the global batch (CUDA only)")
    parser.add_argument("--smoke", action="store_true",
                        help="2,048 images, 2 epochs: checks the set-up in seconds")
    args = parser.parse_args(argv)

    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    if args.smoke:
        train, test = train.subset(2048, seed=0), test.subset(512, seed=0)
    epochs = args.epochs or (2 if args.smoke else 30)
    batch_size = args.batch_size or (128 if args.smoke else 512)
    # More processes do not change the run: the global batch, and so the learning rate, stay.
    lr = args.lr * batch_size / 512
    checkpoint = args.checkpoint or ("ddp_cifar10_smoke.pt" if args.smoke else "ddp_cifar10.pt")

    seed_everything(0)  # the same initial weights in every run (and process) of this script
    model = cifar_resnet(20, num_classes=10)
    history = fit(model, train, test, epochs=epochs, lr=lr, batch_size=batch_size,
                  augment=Augment(translate=4, flip=True), checkpoint=checkpoint,
                  sync_batchnorm=args.sync_batchnorm, progress=not args.smoke)
    world = distributed.current_world()  # fit has joined torchrun's process group by now
    if world.is_main:
        print(f"{world.size} process(es), each on {history.settings['device']}; "
              f"precision {history.settings['precision']}")
        print(history)
    distributed.leave()


if __name__ == "__main__":
    main()
