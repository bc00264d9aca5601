"""Training throughput (images/s) of every preset on this machine: forward, loss, backward and
an Adam step on random data, the model at its full (faithful) size, in fp32 and in bf16.

    python benchmarks/train_throughput.py [--sizes 64 256] [--threads 2] [--steps 5] [--precisions fp32 bf16]

bf16 is what ``train.py --mixed_precision bf16`` runs: ``torch.autocast`` in bfloat16 with the model in
``channels_last`` (oneDNN's bf16 convolutions use AMX where the CPU has it).

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


def measure(name: str, size: int, steps: int, precision: str = "fp32") -> float:
    torch.manual_seed(0)
    model = colorizers.create_model(name).train()
    bf16 = precision == "bf16"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gan = getattr(model.config, "training_objective", "regression") == "gan"
    if gan:
        family = FAMILIES["discriminator"]
        discriminator = family.ColorizerDiscriminatorModel(family.ColorizerDiscriminatorConfig()).train()
        if bf16:
            discriminator = discriminator.to(memory_format=torch.channels_last)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
    batch = _batch_size(size)
    pixel_values = torch.rand(batch, 1, size, size) * 2 - 1
    with torch.no_grad():
        probe = model(pixel_values=pixel_values[:1])
    rgb = getattr(probe, "ab", None) is None
    labels = torch.rand(batch, 3 if rgb else 2, size, size) * (1 if rgb else 2) - (0 if rgb else 1)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            forward_and_backward()
        optimizer.step()
        optimizer.zero_grad()

    def forward_and_backward():
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
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads; batch per size: "
        + ", ".join(f"{s}px: {_batch_size(s)}" for s in args.sizes)
        + "\n"
    )
    columns = [(size, precision) for size in args.sizes for precision in args.precisions]
    speedup = args.precisions == ["fp32", "bf16"]
    header = [f"{p} images/s at {s}x{s}" for s, p in columns] + (
        [f"bf16 / fp32 at {s}" for s in args.sizes] if speedup else []
    )
    print("| preset | " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(header))
    for name in args.models or colorizers.list_models():
        rates = {column: measure(name, column[0], args.steps, column[1]) for column in columns}
        cells = [f"{rates[column]:.1f}" for column in columns]
        if speedup:
            cells += [f"{rates[(s, 'bf16')] / rates[(s, 'fp32')]:.1f}x" for s in args.sizes]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
