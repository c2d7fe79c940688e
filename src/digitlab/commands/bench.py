"""`digitlab bench`: this machine's training and inference speed."""

from __future__ import annotations

from .common import add_command


def cmd_bench(args) -> int:
    from ..allocator import keep_freed_memory
    from ..bench import run_bench
    from ..files import write_json_atomic

    kept = keep_freed_memory() if args.keep_memory else False
    result = run_bench(quick=args.quick)
    result["keep_memory"] = kept
    write_json_atomic(args.out, result)
    print(f"written: {args.out}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    p = add_command(sub, "bench",
                    description="matmul GFLOP/s; per preset, training images/s in fp32 and bf16 against a plain "
                                "PyTorch loop; inference latency and throughput with PyTorch and ONNX Runtime; "
                                "the fast recipe's time to 99%% (not with --quick); peak memory.")
    p.add_argument("--quick", action="store_true", help="fewer steps and no fast-recipe runs (under a minute)")
    p.add_argument("--keep-memory", action="store_true",
                   help="keep freed memory in the process for every row, the plain PyTorch reference loop included "
                        "(as `train` does for its own process); off by default")
    p.add_argument("--out", default="bench.json", help="where to write the results (default bench.json)")
    p.set_defaults(func=cmd_bench)
