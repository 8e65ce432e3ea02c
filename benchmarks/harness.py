"""Timing, peak memory and matmul-rate helpers, and table/JSON output, for the benchmark suites.

* time: ``torch.utils.benchmark.Timer.blocked_autorange`` median (it synchronises CUDA);
* peak memory: CUDA ``max_memory_allocated`` above the baseline; on CPU the
  running sum of allocations and frees recorded by the torch profiler
  (``profile_memory=True``) during one call — the extra memory the call needs;
* matmul rate: FLOP/s of one n × n × n matmul in the dtype, measured in the same
  run, the yardstick for "achieved TFLOP/s".
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

from spectral_la.analysis.tables import markdown_table
from spectral_la.atomic_files import atomic_write_text

__all__ = ["machine", "matmul_rate", "peak_memory_mib", "print_table", "seconds", "write_json"]


def seconds(fn: Callable, min_run_time: float) -> float:
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def paired_seconds(ours: Callable, theirs: Callable, min_run_time: float, rounds: int = 5) -> tuple:
    """(ours, theirs, ratio, (lowest, highest) ratio): timed in alternation ``rounds`` times.

    Alternating the two in one run is what makes a ratio on a noisy shared machine meaningful (the
    per-round ratio cancels what slows both); the medians are returned, with the spread of the
    per-round ratios, which is the noise to quote.
    """
    pairs = [(seconds(ours, min_run_time), seconds(theirs, min_run_time)) for _ in range(rounds)]
    ratios = sorted(a / b for a, b in pairs)
    med = sorted(a for a, _ in pairs)[rounds // 2], sorted(b for _, b in pairs)[rounds // 2]
    return med[0], med[1], ratios[rounds // 2], (ratios[0], ratios[-1])


def peak_memory_mib(fn: Callable, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = []
    for e in prof.events():
        v = e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage
        if v:
            events.append((e.time_range.start, v))
    current = peak = 0
    for _, v in sorted(events):
        current += v
        peak = max(peak, current)
    return peak / 2**20


def matmul_rate(n: int, dtype: torch.dtype, device: str, min_run_time: float) -> float:
    """Measured FLOP/s of an n × n × n matmul."""
    g = torch.Generator(device).manual_seed(0)  # a private generator: the caller's RNG stream is untouched
    a = torch.randn(n, n, device=device, generator=g).to(dtype)
    b = torch.randn(n, n, device=device, generator=g).to(dtype)
    return 2 * n**3 / seconds(lambda: a @ b, min_run_time)


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"


def print_table(rows: list[dict]) -> None:
    print(markdown_table(rows), end="")


def write_json(path: str | Path, device: str, rows: list[dict], command: str) -> None:
    atomic_write_text(
        path,
        json.dumps(
            {
                "device": device,
                "machine": machine(device),
                "torch": torch.__version__,
                "command": command,
                "rows": rows,
            },
            indent=1,
        )
        + "\n",
    )
