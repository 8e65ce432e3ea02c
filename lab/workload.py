"""A real workload on CPU: a small character-level transformer trained on Python's own standard library.

``spectral-la capture`` trains it with :class:`spectral_la.optim.Muon` on the hidden matrices
(AdamW on embeddings, head, norms and biases) and records gradients, momenta and updates
early, in the middle and late in training (:class:`spectral_la.optim.Capture`), into one
``.npz`` with the settings that reproduce it. The corpus is the ``.py`` files at the top of
the running interpreter's standard library (offline, real text); the model is a 2-layer
pre-norm transformer of width 128 with 4 heads. The default run takes about a minute on
two cores; ``data/captured/stdlib_lm.npz`` is its committed result.
"""

from __future__ import annotations

import math
import sysconfig
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from spectral_la.dtypes import bf16_is_slow, dtype_name, parse_dtype
from spectral_la.optim import OPTIMIZERS, Capture

__all__ = ["TinyLM", "corpus", "hidden_matrices", "train_and_capture"]


def corpus(max_bytes: int = 2_000_000) -> torch.Tensor:
    """The bytes of the standard library's top-level ``.py`` files (sorted by name), as a uint8 tensor."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= max_bytes:
            break
    if not chunks:
        raise FileNotFoundError(f"no .py files under {root}")
    return torch.frombuffer(bytearray(b"".join(chunks)[:max_bytes]), dtype=torch.uint8).clone()


class TinyLM(nn.Module):
    """Byte-level causal transformer: embedding, ``layers`` pre-norm blocks, tied-free linear head."""

    def __init__(self, width: int = 128, layers: int = 2, heads: int = 4, context: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, width)
        self.position = nn.Embedding(context, width)
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 256)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        h = self.embed(tokens) + self.position(torch.arange(t, device=tokens.device))
        mask: torch.Tensor = self.mask  # type: ignore[assignment]  # a registered buffer
        h = self.blocks(h, mask=mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def hidden_matrices(model: TinyLM) -> list[tuple[str, nn.Parameter]]:
    """The matrices of the transformer blocks (the matrix optimizer's); everything else goes to AdamW."""
    return [(n, p) for n, p in model.blocks.named_parameters() if p.ndim == 2]


def train_and_capture(
    out: str | Path,
    *,
    steps: int = 1500,
    batch: int = 16,
    context: int = 128,
    width: int = 128,
    layers: int = 2,
    lr: float = 0.02,
    schedule: str | None = None,
    optimizer: str = "muon",
    softening: float | str = 0.0,
    capture_at: tuple[int, ...] | None = None,
    seed: int = 0,
    full: bool = False,
    device: str = "cpu",
    progress: bool = True,
    compute_dtype=None,
) -> dict:
    """Train, capture and save; returns a summary (loss curve ends, seconds, path).

    ``optimizer``: a name of :data:`spectral_la.optim.OPTIMIZERS` (muon, normuon, dion2, nordion2),
    run on the hidden matrices with ``lr`` (the embeddings and norms: AdamW, the same for all four).
    ``schedule``: the orthogonaliser, any spec (:mod:`spectral_la.spec`); default ``jordan_ns5`` for
    Muon and microsoft/dion's Polar Express for the other three. ``softening``: Soft-Muon's s or a
    schedule s(t) (:mod:`spectral_la.optim.softening`). ``compute_dtype``: the orthogonaliser's;
    default bf16 (Muon's) on CUDA or a CPU with native bf16, fp32 on a CPU that emulates bf16
    (the states are what is analysed, and fp32 gives them equal to rounding, several times
    faster there); the summary says which ran.
    """
    if compute_dtype is None:
        slow = device == "cpu" and bf16_is_slow()
        compute_dtype = torch.float32 if slow else torch.bfloat16
        why = "this CPU emulates bf16" if slow else "the optimizers' default"
    else:
        why = "as asked"
    compute_dtype = parse_dtype(compute_dtype, "compute_dtype")
    torch.manual_seed(seed)
    data = corpus()
    split = int(0.95 * len(data))
    train, valid = data[:split], data[split:]
    model = TinyLM(width, layers, context=context).to(device)
    hidden = hidden_matrices(model)
    hidden_ids = {id(p) for _, p in hidden}
    others = [p for p in model.parameters() if id(p) not in hidden_ids]
    capture_at = capture_at or (max(1, steps // 30), steps // 2, steps)
    # full matrices of the momenta at the last step (for the measured response), or everywhere with ``full``
    cap = Capture([(f"blocks.{n}", p) for n, p in hidden], capture_at, full=True if full else [steps])
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
    if optimizer == "muon":
        kw: dict = {"orthogonalize": schedule or "jordan_ns5", "batch_same_shape": True}
    else:
        kw = {"orthogonalize": schedule}
    muon = OPTIMIZERS[optimizer](
        [p for _, p in hidden], lr=lr, compute_dtype=compute_dtype, capture=cap, softening=softening, **kw
    )
    adam = torch.optim.AdamW(others, lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)

    def sample(source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(source) - context - 1, (batch,), generator=gen)
        x = torch.stack([source[s : s + context] for s in starts]).long()
        y = torch.stack([source[s + 1 : s + context + 1] for s in starts]).long()
        return x.to(device), y.to(device)

    losses = []
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="training", disable=not progress)
    for step in bar:
        x, y = sample(train)
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        muon.zero_grad()
        adam.zero_grad()
        loss.backward()
        muon.step()
        adam.step()
        losses.append(float(loss.detach()))
        if step % 25 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    with torch.no_grad():
        x, y = sample(valid)
        valid_loss = float(nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1)))
    seconds = time.perf_counter() - start
    summary = {
        "first_loss": losses[0],
        "last_loss": sum(losses[-10:]) / min(10, len(losses)),
        "valid_loss": valid_loss,
        "uniform_loss": math.log(256),
        "seconds": seconds,
        "steps": steps,
        "captured_steps": sorted(cap.steps),
        "compute_dtype": f"{dtype_name(compute_dtype)} ({why})",
        "softening": str(softening),
    }
    path = cap.save(
        out,
        workload="byte-level transformer on the Python standard library",
        width=width,
        layers=layers,
        heads=4,
        context=context,
        batch=batch,
        seed=seed,
        torch=torch.__version__,
        **summary,
    )
    return {**summary, "path": str(path)}
