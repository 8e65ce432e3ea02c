"""The README's pytest example for spectral_la.testing, verbatim: it must keep working."""

import spectral_la as sl
from spectral_la.testing import assert_map_accuracy, check_golden, write_golden

SIGMAS = [10 ** (-3 + 3 * i / 100) for i in range(101)]


def cubic_ns_in_mpmath(s, steps=6):  # the independent high-precision run
    for _ in range(steps):
        s = (3 * s - s**3) / 2
    return s


def test_polar_express_stays_in_its_band():
    assert_map_accuracy(lambda s: sl.scalar_map("polar_express", s), lambda s: 1, SIGMAS, tol=0.16)


def test_my_cubic_recurrence_is_pinned(tmp_path):
    table = write_golden(tmp_path / "cubic.json", cubic_ns_in_mpmath, SIGMAS, dps=40)  # once, then commit it
    check_golden(table, lambda s: sl.scalar_map("newton_schulz_cubic", s, steps=6), tol=1e-13)


def test_the_readme_optimizer_example_runs(tmp_path, monkeypatch):
    """The README's Muon + Capture block, run as written on a small model (its `...` is one training step)."""
    import re
    from pathlib import Path

    import torch

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Capture(" in b)
    step = "loss = model(torch.randn(8, 16)).square().mean(); loss.backward()\nfor _ in range(10): opt.step()\n"
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    import warnings

    from spectral_la.optim import SlowComputeWarning

    with warnings.catch_warnings():  # on a CPU that emulates bf16 the optimizer says so once, as documented
        warnings.simplefilter("ignore", SlowComputeWarning)
        exec(block.replace("...  # train\n", step), {"model": model, "torch": torch})  # noqa: S102
    assert (tmp_path / "states.npz").exists()
