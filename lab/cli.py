"""Command line: ``spectral-la report`` (the main job) and ``design``, ``response``, ``softening``, ``sweep``,
``capture``, ``schedules``, ``precision``, ``bench`` (each with ``--help``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from numpy.linalg import LinAlgError  # spectral_la.LinAlgError subclasses it; importing numpy alone is fast


def main(argv: list[str] | None = None) -> int:
    """Run the command line; errors end in one line on stderr and exit status 2, Ctrl-C in 130.

    Set ``SPECTRAL_LA_DEBUG=1`` to see the full traceback instead.
    """
    try:
        return _main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2, its one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        print("spectral-la: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ArithmeticError, LinAlgError) as exc:
        if os.environ.get("SPECTRAL_LA_DEBUG"):
            raise
        print(f"spectral-la: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return text


_DTYPES_HELP = "float64/fp64, float32/fp32, bfloat16/bf16, float16/fp16"


class _Parser(argparse.ArgumentParser):
    """argparse with a bad option reported in one line (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``spectral-la`` argument parser, every subcommand with its options."""
    parser = _Parser(prog="spectral-la", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="measure every method and write reports/report.md")
    rep.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    rep.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default ./reports)")
    rep.add_argument("--no-progress", action="store_true", help="hide progress bars")
    rep.add_argument(
        "--quick",
        action="store_true",
        help="small sizes everywhere, labelled quick in the report",
    )
    rep.add_argument(
        "--rerun-study",
        action="store_true",
        help="retrain a quick softening study into OUT/softening_study_quick.csv and report it "
        "(default: read the committed data/study/softening_study.csv)",
    )
    des = sub.add_parser("design", help="design a minimax (Polar Express style) schedule and certify its error")
    des.add_argument("--degree", type=int, default=5, help="odd degree of each step's polynomial (default 5)")
    des.add_argument("--steps", type=int, default=5, help="number of steps (default 5)")
    des.add_argument("--ell", type=float, default=1e-3, help="lower end of the design interval [ell, 1] (default 1e-3)")
    des.add_argument("--target", default="sign", help="'sign', 'soft:<s>' or 'power:<p>' (default sign)")
    des.add_argument(
        "--safety", type=float, default=1.0, help="rows become p(x/safety), last row exempt (default 1: none)"
    )
    des.add_argument("--cushion", type=float, default=None, help="Polar Express cushion (default the paper's)")
    des.add_argument(
        "--safety-in-recurrence",
        action="store_true",
        help="scale each row by the safety before forming the next interval (modded-nanogpt's construction)",
    )
    des.add_argument("--name", default=None, help="the schedule's name (default: from the parameters)")
    des.add_argument(
        "--out", type=Path, default=None, help="write the schedule as JSON, a spec every command takes (default: none)"
    )
    resp = sub.add_parser("response", help="plot the singular-value response of any methods (two panels)")
    resp.add_argument("specs", nargs="+", help="method specs, schedule names or schedule JSON files")
    resp.add_argument(
        "--sigma-range",
        type=float,
        nargs=2,
        default=(1e-4, 1.0),
        metavar=("LO", "HI"),
        help="normalised σ range of the curves (default 1e-4 1; HI > 1 shows the overshoot region)",
    )
    resp.add_argument("--points", type=int, default=400, help="σ points per curve (default 400)")
    resp.add_argument(
        "--storage-dtype",
        default=None,
        help=f"overlay the measured response of a real matrix stored in this dtype ({_DTYPES_HELP})",
    )
    resp.add_argument(
        "--compute-dtype",
        default=None,
        help="dtype the measured matrix map computes in (default: fp32 for bf16/fp16 storage, else as stored)",
    )
    resp.add_argument("--shape", default="64x64", help="MxN of the measured matrix (default 64x64)")
    resp.add_argument(
        "--out", type=Path, default=Path("response.png"), help="fig.png, .svg, .pdf or data.csv (default response.png)"
    )
    soft = sub.add_parser("softening", help="check Soft-Muon's closed form against the finite-step blend")
    soft.add_argument(
        "specs",
        nargs="*",
        default=["soften:0.3:polar_express"],
        help="soften specs soften:<s>:<schedule>[:<steps>] (the schedule a name or a designed schedule file), "
        "each drawn (default soften:0.3:polar_express)",
    )
    soft.add_argument(
        "--spectrum",
        default="power_law",
        help="gaussian, low_rank, power_law, FILE.npz (sigma or matrix) or a capture file as "
        "FILE.npz#<parameter>/<kind>/<step> (the command lists them)",
    )
    soft.add_argument("--shape", default="128x512", help="MxN of a family matrix (default 128x512)")
    soft.add_argument(
        "--storage-dtype", default="float32", help=f"dtype X is stored in (default float32; {_DTYPES_HELP})"
    )
    soft.add_argument("--compute-dtype", default=None, help="dtype the blend computes in (default: the backend's)")
    soft.add_argument(
        "--optimizer",
        nargs="+",
        choices=["muon", "normuon", "dion2", "nordion2"],
        default=None,
        help="measure the closed form where each optimizer applies it: at its orthogonaliser's output and "
        "for the update it applies (analysis.optimizer_softening); without it: the blend alone",
    )
    soft.add_argument("--fraction", type=float, default=0.25, help="Dion2/NorDion2's selected fraction (default 0.25)")
    soft.add_argument(
        "--out",
        type=Path,
        default=Path("softening.png"),
        help="fig.png, .svg, .pdf or rows.csv (default softening.png)",
    )
    sweep = sub.add_parser("sweep", help="run a grid (stability, softening, design) on dask.distributed")
    sweep.add_argument("kind", help="stability, softening or design")
    sweep.add_argument("--grid", type=Path, default=None, help="a TOML file: field = [values] (or a [grid] table)")
    sweep.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2", help="a grid field (repeatable)")
    sweep.add_argument("--out", type=Path, default=Path("sweep.csv"), help="results CSV (resumable)")
    sweep.add_argument("--scheduler", default=None, help="an existing dask scheduler (else SPECTRAL_LA_SCHEDULER)")
    sweep.add_argument("--workers", type=int, default=2, help="local worker processes (0: in this process)")
    sweep.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    sweep.add_argument("--gpu", action="store_true", help="pin tasks to workers started with --resources GPU=1")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    cap = sub.add_parser(
        "capture",
        help="train a small LM on the Python stdlib with Muon, NorMuon, Dion2 or NorDion2 and record its states",
    )
    cap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default stdlib_lm_<optimizer>.npz in the current directory (never the committed data/captured/)",
    )
    cap.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    cap.add_argument(
        "--optimizer", default="muon", choices=["muon", "normuon", "dion2", "nordion2"], help="default muon"
    )
    cap.add_argument(
        "--orthogonalize",
        default=None,
        help="the orthogonaliser, any spec (default jordan_ns5 for muon, dion's Polar Express for the others)",
    )
    cap.add_argument(
        "--softening", default="0", help="Soft-Muon's s, or a schedule such as linear:0:0.5:1000 (default 0)"
    )
    cap.add_argument("--lr", type=float, default=0.02, help="learning rate of the hidden matrices (default 0.02)")
    cap.add_argument(
        "--compute-dtype",
        default=None,
        help="dtype of the orthogonalisation (default bf16 where this CPU has native bf16 or on CUDA, else fp32)",
    )
    cap.add_argument("--full", action="store_true", help="also keep the full matrices (larger file)")
    cap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    cap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    study = sub.add_parser(
        "study", help="does softening help? paired-seed training of the four optimizers, token-rich and high-dim"
    )
    study.add_argument(
        "--out",
        type=Path,
        default=Path("softening_study.csv"),
        help="results CSV, resumable (default ./softening_study.csv)",
    )
    study.add_argument("--quick", action="store_true", help="a small grid in about a minute (a first look, tests)")
    study.add_argument("--workers", type=int, default=2, help="local Dask worker processes (0: in this process)")
    study.add_argument("--scheduler", default=None, help="an existing dask scheduler (else SPECTRAL_LA_SCHEDULER)")
    study.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    study.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    rank = sub.add_parser(
        "schedules", help="every registered schedule with its source, ranked by certified error at equal cost"
    )
    rank.add_argument(
        "designed", nargs="*", help="designed schedule files (or ns specs) to rank beside the registered ones"
    )
    rank.add_argument("--ell", type=float, default=1e-3, help="lower end of the common interval [ℓ, 1] (default 1e-3)")
    rank.add_argument(
        "--budget", type=int, default=15, help="matrix products every schedule may spend (default 15, at most 200)"
    )
    rank.add_argument("--sources", action="store_true", help="also print each schedule's source")
    prec = sub.add_parser(
        "precision", help="step traces of NS specs in fp32/bf16/fp16/fp8 against float64, beside a rounding model"
    )
    prec.add_argument(
        "specs", nargs="*", default=None, help="ns or soften specs (default ns:polar_express; soften traces its blend)"
    )
    prec.add_argument(
        "--compute-dtypes",
        nargs="+",
        default=None,
        help="compute dtypes: fp64 fp32 bf16 fp16 fp8_e4m3 fp8_e5m2 (default fp32 bf16 fp16 fp8_e4m3)",
    )
    prec.add_argument("--shape", default=None, help="MxN of the input (default 128x512)")
    prec.add_argument(
        "--spectrum",
        default=None,
        help="input family: gaussian, low_rank, power_law or tiny_sigma (default tiny_sigma)",
    )
    prec.add_argument("--accumulation", default=None, help="fused (one addmm per step) or separate (default fused)")
    prec.add_argument("--seed", type=int, default=0, help="input seed (default 0)")
    prec.add_argument(
        "--out", type=Path, default=Path("precision.png"), help="fig.png, .svg, .pdf (one spec) or rows.csv"
    )
    bench = sub.add_parser("bench", help="speed and memory benchmarks (tables + JSON)")
    from spectral_la.benchmarks.__main__ import add_arguments

    add_arguments(bench)
    return parser


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "bench":
        from spectral_la.benchmarks.__main__ import run

        return run(args, argv)
    if args.command == "design":
        return _design(args)
    if args.command == "schedules":
        return _schedules(args)
    if args.command == "response":
        return _response(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "precision":
        return _precision(args)
    if args.command == "capture":
        from spectral_la.lab.workload import train_and_capture
        from spectral_la.validation import check_int

        check_int(args.steps, "--steps", 3, 10**6)
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA GPU is available")
        summary = train_and_capture(
            args.out if args.out is not None else Path(f"stdlib_lm_{args.optimizer}.npz"),
            steps=args.steps,
            schedule=args.orthogonalize,
            optimizer=args.optimizer,
            softening=args.softening,
            lr=args.lr,
            compute_dtype=args.compute_dtype,
            full=args.full,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
        )
        print({k: v for k, v in summary.items() if k != "path"})
        print(f"written to {summary['path']}")
        return 0
    if args.command == "softening":
        return _softening(args)
    if args.command == "study":
        return _study(args)
    if args.command == "report":
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA GPU is available")
        from spectral_la.lab.report import ReportConfig, build_report

        config = ReportConfig.quick(args.device) if args.quick else ReportConfig(device=args.device)
        if args.rerun_study:
            import dataclasses

            from spectral_la.lab.study import StudyConfig, run_study

            study_out = args.out / "softening_study_quick.csv"
            run_study(StudyConfig.quick(), study_out, workers=0, device=args.device, progress=not args.no_progress)
            config = dataclasses.replace(config, study_path=str(study_out))
        path = build_report(args.out, device=args.device, progress=not args.no_progress, config=config)
        print(path.read_text())
        print(f"written to {path}")
    return 0


def _schedules(args: argparse.Namespace) -> int:
    from spectral_la import schedules
    from spectral_la.analysis.schedule_ranking import MAX_BUDGET, certified_ranking
    from spectral_la.analysis.tables import markdown_table
    from spectral_la.validation import check_in_range, check_int

    ell = float(check_in_range(args.ell, "--ell", 0, 1, lo_open=True, hi_open=True))
    budget = check_int(args.budget, "--budget", 1, MAX_BUDGET)
    extra = [_ns_schedule(v, "schedules") for v in args.designed]
    entries = [*schedules, *(s for s in extra if s.name not in schedules)]
    what = "Registered" + (" and designed" if extra else "")
    print(f"# {what} schedules on [{ell:g}, 1], at their own cost and at {budget} matrix products\n")
    print(markdown_table(certified_ranking(entries, interval=(ell, 1.0), budget=budget)))
    if args.sources:
        print("\n## Sources\n")
        for sched in map(schedules.resolve, entries):
            print(f"* `{sched.name}`: {sched.source}")
    return 0


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _sweep(args: argparse.Namespace) -> int:
    import tomllib

    from spectral_la.analysis.sweeps import run_sweep

    grid: dict = {}
    if args.grid is not None:
        try:
            data = tomllib.loads(args.grid.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"--grid {args.grid}: not valid TOML ({exc})") from None
        data.pop("kind", None)
        grid.update(data.get("grid", data))
    for item in args.set:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--set must look like FIELD=V1,V2, got {item!r}")
        grid[name.strip()] = [_value(v.strip()) for v in values.split(",")]
    summary = run_sweep(
        args.kind,
        grid,
        args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        threads=args.threads,
        resources={"GPU": 1} if args.gpu else None,
        device="cuda" if args.gpu else "cpu",
        progress=not args.no_progress,
    )
    print(summary)
    print(f"written to {args.out}")
    return 0


_FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _suffix(path: Path, allowed: tuple[str, ...]) -> str:
    """The output's suffix, checked before anything heavy is imported (an argument error in < 1 s)."""
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ValueError(f"--out must end in {', '.join(allowed)}, got {path}")
    return suffix


def _response(args: argparse.Namespace) -> int:
    suffix = _suffix(args.out, (*_FIGURE_SUFFIXES, ".csv"))
    from spectral_la.atomic_files import atomic_path
    from spectral_la.figures.response_plot import plot_response, write_rows
    from spectral_la.spec import parse_spec
    from spectral_la.validation import parse_shape

    shape = parse_shape(args.shape, "--shape", max_size=8192)
    specs = {str(sp): sp for sp in map(parse_spec, args.specs)}  # parsed once; a designed file is not registered
    fig, rows = plot_response(
        list(specs.values()),
        sigma_range=tuple(args.sigma_range),
        points=args.points,
        storage_dtype=args.storage_dtype,
        compute_dtype=args.compute_dtype,
        measured_shape=shape,
    )
    if suffix == ".csv":
        write_rows(rows, args.out)
    else:
        with atomic_path(args.out) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight")  # legends beside the panels included
    from spectral_la.analysis.schedule_response import schedule_error

    for name in dict.fromkeys(r["spec"] for r in rows):
        error = schedule_error(specs[name])  # the one definition the legends, tables and summary use
        if error is not None:
            (lo, hi), which = error["interval"], error["which"]
            bound = error["certified"]
            print(f"{name}: certified max |f − target| ≤ {bound:.4g} on [{lo:.3g}, {hi:g}] ({which} interval)")
            continue
        lo, hi = args.sigma_range[0], 1.0
        errs = [r["error"] for r in rows if r["spec"] == name and r["kind"] == "map" and lo <= r["sigma"] <= hi]
        if errs:  # no certified interval (not a sign-target schedule): the grid on the plotted range
            print(f"{name}: grid max |f − target| = {max(errs):.4g} on the plotted range [{lo:g}, {hi:g}] "
                  f"({args.points} points)")  # fmt: skip
    print(f"written to {args.out}")
    return 0


def _precision(args: argparse.Namespace) -> int:
    suffix = _suffix(args.out, (*_FIGURE_SUFFIXES, ".csv"))
    import dataclasses

    from spectral_la.analysis.low_precision import PrecisionConfig, trace_rows
    from spectral_la.validation import parse_shape

    options = {
        "specs": tuple(args.specs) or None,
        "computes": tuple(args.compute_dtypes) if args.compute_dtypes else None,
        "shape": parse_shape(args.shape, "--shape", max_size=4096) if args.shape else None,
        "family": args.spectrum,
        "accumulation": args.accumulation,
        "seed": args.seed,
    }
    cfg = dataclasses.replace(PrecisionConfig(), **{k: v for k, v in options.items() if v is not None})
    rows = trace_rows(cfg)
    if suffix == ".csv":
        from spectral_la.figures.response_plot import write_rows

        write_rows(rows, args.out)
    else:
        if len(cfg.specs) > 1:
            raise ValueError(f"a figure shows one spec; got {len(cfg.specs)} ({', '.join(cfg.specs)}): write .csv")
        from spectral_la.atomic_files import atomic_path
        from spectral_la.figures.precision_traces import plot

        fig = plot(cfg)
        with atomic_path(args.out) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, format=suffix[1:])
    for spec in cfg.specs:
        for compute in cfg.computes:
            mine = [r for r in rows if r["spec"] == spec and r["compute_dtype"] == compute]
            if not mine:
                continue
            outlier = max(r["max_abs_x"] / r["ref_max_abs_x"] for r in mine)
            last = mine[-1]
            print(
                f"{spec} {cfg.shape[0]}x{cfg.shape[1]} storage {last['storage_dtype']}, compute {compute}: "
                f"max|X_k| up to {outlier:.3f}× the float64 run's, final max σ error {last['max_sigma_error']:.3g}, "
                f"measured/model at σ̂ ≥ 0.1: {last['measured_over_model_sigma_ge_0.1']:.2f}"
            )
    print(f"written to {args.out}")
    return 0


def _ns_schedule(value: str, option: str):
    """The schedule of a Newton–Schulz spec, a registered name or a designed schedule file."""
    from spectral_la.spec import NewtonSchulzSpec, parse_spec

    spec = parse_spec(value)
    if not isinstance(spec, NewtonSchulzSpec) or spec.steps is not None or spec.normalize is not None:
        raise ValueError(f"{option} {value!r}: takes a schedule (a name, ns:<name> or a schedule file), got {spec}")
    return spec.resolved_schedule


def _softening(args: argparse.Namespace) -> int:
    suffix = _suffix(args.out, (*_FIGURE_SUFFIXES, ".csv"))
    from spectral_la.analysis.softening import measure_softening, soften_specs, spectrum_matrix
    from spectral_la.analysis.tables import markdown_table
    from spectral_la.atomic_files import atomic_path
    from spectral_la.dtypes import parse_dtype
    from spectral_la.figures.softening import plot_softening
    from spectral_la.figures.softening import title as softening_title
    from spectral_la.validation import parse_shape

    specs = soften_specs(args.specs, "softening")
    shape = parse_shape(args.shape, "--shape", max_size=8192)
    x = spectrum_matrix(args.spectrum, shape)
    storage = parse_dtype(args.storage_dtype, "--storage-dtype")
    compute = parse_dtype(args.compute_dtype, "--compute-dtype", allow_none=True)
    if args.optimizer:
        return _softening_by_optimizer(args, specs, x, storage, compute, suffix)
    rows = measure_softening(specs, x, storage_dtype=storage, compute_dtype=compute, family=args.spectrum)
    print(markdown_table(rows))
    if suffix == ".csv":
        from spectral_la.figures.response_plot import write_rows

        write_rows(rows, args.out)
        print(f"written to {args.out}")
        return 0
    fig, _ = plot_softening(
        specs,
        x,
        storage_dtype=storage,
        compute_dtype=compute,
        title=softening_title(
            family=args.spectrum,
            shape=(x.shape[0], x.shape[1]),
            specs=specs,
            storage_dtype=storage,
            compute_dtype=compute,
        ),
    )
    with atomic_path(args.out) as tmp:
        fig.tight_layout()
        fig.savefig(tmp, format=suffix[1:], bbox_inches="tight")
    print(f"written to {args.out}")
    return 0


def _softening_by_optimizer(args: argparse.Namespace, specs, x, storage, compute, suffix: str) -> int:
    """The closed form where each optimizer applies it: a soften spec is the optimizer's orthogonalizer and s."""
    from spectral_la.analysis.optimizer_softening import optimizer_softening
    from spectral_la.analysis.tables import markdown_table
    from spectral_la.atomic_files import atomic_path
    from spectral_la.figures.optimizer_softening import plot
    from spectral_la.validation import check_in_range

    check_in_range(args.fraction, "--fraction", 0, 1, lo_open=True)
    rows = []
    for spec in specs:
        rows += optimizer_softening(
            args.optimizer, [str(spec.inner)], [spec.s], matrices={args.spectrum: x}, matrix_family=args.spectrum,
            fraction=args.fraction, storage_dtype=storage, compute_dtype=compute, progress=False,
        )  # fmt: skip
    print(markdown_table(rows))
    if suffix == ".csv":
        from spectral_la.figures.response_plot import write_rows

        write_rows(rows, args.out)
        print(f"written to {args.out}")
        return 0
    from spectral_la.dtypes import precision_label

    first = str(specs[0].inner)
    fig = plot(
        rows,
        first,
        f"Softening across {', '.join(args.optimizer)}, {first}, {args.spectrum} "
        f"{x.shape[0]}×{x.shape[1]}, {precision_label(storage, compute)}, fraction {args.fraction:g}",
    )
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format=suffix[1:], bbox_inches="tight")
    print(f"written to {args.out}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from spectral_la.analysis.study_stats import parse_rows, study_summary
    from spectral_la.analysis.tables import markdown_table
    from spectral_la.lab.study import StudyConfig, load_rows, run_study
    from spectral_la.validation import check_int

    check_int(args.workers, "--workers", 0, 4096)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available")
    cfg = StudyConfig.quick() if args.quick else StudyConfig()
    phases = run_study(
        cfg, args.out, scheduler=args.scheduler, workers=args.workers, device=args.device, progress=not args.no_progress
    )
    names = ("phase 1 (every lr, first seed)", "phase 2 (more seeds at the best lr)")
    for name, summary in zip(names, phases, strict=True):
        print(f"{name}: {summary}")
    print(markdown_table(study_summary(parse_rows(load_rows(args.out), cfg.key()), cfg.seeds[0])))
    print(f"written to {args.out}")
    return 0


def _design(args: argparse.Namespace) -> int:
    if args.degree < 3 or args.degree % 2 == 0:
        raise ValueError(f"--degree must be odd and ≥ 3 (an odd polynomial), got {args.degree}")
    if args.steps < 1:
        raise ValueError(f"--steps must be ≥ 1, got {args.steps}")
    if not 0 < args.ell < 1:
        raise ValueError(f"--ell must lie in (0, 1), got {args.ell}")
    from spectral_la.certify import certify
    from spectral_la.design import PE_CUSHION, design_schedule
    from spectral_la.schedule_files import save_schedule

    try:
        res = design_schedule(
            args.degree,
            args.steps,
            args.ell,
            target_map=args.target,
            safety=args.safety,
            cushion=PE_CUSHION if args.cushion is None else args.cushion,
            safety_in_recurrence=args.safety_in_recurrence,
            name=args.name,
        )
    except ValueError as exc:
        raise ValueError(f"design: {exc}") from None
    sched = res.schedule
    bound = certify(sched)
    print(f"# {sched.name}")
    print(
        f"degree {sched.degree}, {len(sched.rows)} steps, target {sched.target}, design interval "
        f"[{args.ell:g}, 1], safety {sched.safety:g}\n"
    )
    header = ["step"] + [f"c{2 * j + 1}" for j in range(len(sched.rows[0]))]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for k, row in enumerate(sched.rows, start=1):
        print(f"| {k} | " + " | ".join(repr(c) for c in row) + " |")
    when = "with the safety in the recurrence" if args.safety_in_recurrence else "before safety"
    print(f"\nworst error of the design (exact arithmetic, {when}): {float(res.worst_error):.6g}")
    print(
        f"certified max |f − target| on [{args.ell:g}, 1]: ≤ {bound.upper:.6g} "
        f"(attained ≥ {bound.estimate:.6g} at σ = {bound.at:.4g}; {bound.boxes} boxes, "
        f"{'complete' if bound.complete else 'budget exhausted'})"
    )
    print(f"certified max f on [1, 1.01] (overshoot): ≤ {bound.overshoot:.6g}")
    if args.out is not None:
        save_schedule(sched, args.out)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
