"""Training throughput (images/s) of every preset on this machine: forward, loss, backward and
an Adam step on random data, the model at its full (faithful) size.

    python benchmarks/train_throughput.py [--sizes 64 256] [--threads 2] [--steps 5]

Data loading is excluded (the data pipeline runs in worker processes during real training); GAN
presets include their discriminator's update. Prints a Markdown table.
"""

import argparse
import time

import torch

import colorizers
from colorizers.losses import discriminator_loss, frozen_forward, generator_adversarial_loss
from colorizers.models import FAMILIES


def _batch_size(size: int) -> int:
    return 16 if size <= 64 else 4  # enough images per step to amortise overheads, small enough for RAM


def measure(name: str, size: int, steps: int) -> float:
    torch.manual_seed(0)
    model = colorizers.create_model(name).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gan = getattr(model.config, "training_objective", "regression") == "gan"
    if gan:
        family = FAMILIES["discriminator"]
        discriminator = family.ColorizerDiscriminatorModel(family.ColorizerDiscriminatorConfig()).train()
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
    batch = _batch_size(size)
    pixel_values = torch.rand(batch, 1, size, size) * 2 - 1
    with torch.no_grad():
        probe = model(pixel_values=pixel_values[:1])
    rgb = getattr(probe, "ab", None) is None
    labels = torch.rand(batch, 3 if rgb else 2, size, size) * (1 if rgb else 2) - (0 if rgb else 1)

    def step():
        outputs = model(pixel_values=pixel_values, labels=labels)
        loss = outputs.loss
        if gan:
            fake = colorizers.predicted_ab(outputs)
            d_loss = discriminator_loss(
                discriminator(pixel_values=pixel_values, ab=labels).logits,
                discriminator(pixel_values=pixel_values, ab=fake.detach()).logits,
            )
            d_loss.backward()
            d_optimizer.step()
            d_optimizer.zero_grad()
            loss = 100 * loss + generator_adversarial_loss(
                frozen_forward(discriminator, pixel_values=pixel_values, ab=fake).logits
            )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads; batch per size: "
        + ", ".join(f"{s}px: {_batch_size(s)}" for s in args.sizes)
        + "\n"
    )
    print("| preset | " + " | ".join(f"images/s at {s}x{s}" for s in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for name in args.models or colorizers.list_models():
        cells = [f"{measure(name, size, args.steps):.1f}" for size in args.sizes]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
