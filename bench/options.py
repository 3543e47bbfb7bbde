"""The benchmark's options: ``python -m bench.run --help``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

# A run that one gunicorn worker served alone (bench.wrk) is measured again, at most this many
# times per case.
LOPSIDED_RETRIES = 2

DESCRIPTION = "make bench: what authentication and authorization cost, against baselines measured in the same run."


@dataclass(frozen=True)
class Config:
    runs: int
    duration: int
    warmup: int
    workers: int
    high_connections: int
    small_orders: int
    large_orders: int
    small_tokens: int
    large_tokens: int
    small_users: int
    large_users: int
    customer_orders: int
    argon2_batch: int
    second_step_accounts: int = 40

    @property
    def busy_connections(self) -> int:
        """Two connections per worker keep every worker busy on slow requests (logins, token
        endpoint): while one request's response travels and the next one arrives, the
        worker's other thread hashes. More would only queue."""
        return 2 * self.workers

    @property
    def case_seconds(self) -> int:
        """The most seconds of load one case may get: its warm-up, its runs, and the runs measured
        again because one worker served them (``bench.wrk.LOPSIDED_RETRIES``)."""
        return self.warmup + (self.runs + LOPSIDED_RETRIES) * self.duration



def parse_config(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=DESCRIPTION)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per case (default 3)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per run (default 4)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per case (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, the same for every case (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="the high concurrency level (default 16)")
    parser.add_argument("--large-orders", type=int, default=100_000, help="orders at the large size (default 100000)")
    parser.add_argument(
        "--large-tokens", type=int, default=100_000, help="access tokens at the large size (default 100000)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1-second runs: checks the harness only")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 2, 1, 1
        args.large_orders, args.large_tokens = 2_000, 2_000
    second_step_accounts = 8 if args.quick else 40
    for name in ("runs", "duration", "warmup", "workers", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.large_orders < 1_000 or args.large_tokens < 1_000:
        parser.error("--large-orders and --large-tokens must be at least 1000 (the small size is 100 and 1000)")
    return Config(
        runs=args.runs,
        duration=args.duration,
        warmup=args.warmup,
        workers=args.workers,
        high_connections=args.connections,
        small_orders=100,
        large_orders=args.large_orders,
        small_tokens=1_000,
        large_tokens=args.large_tokens,
        small_users=20,
        large_users=max(20, args.large_orders // 50),
        customer_orders=60,
        second_step_accounts=second_step_accounts,
        argon2_batch=10 if not args.quick else 4,
    )
