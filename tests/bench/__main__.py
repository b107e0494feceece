"""The benchmark suite (not tests): one table, printed and written to docs/benchmarks.md.

    make bench [BENCH_ARGS="--latency 0.5 --repeat 3 --rows single,burst,scaling"]
    .venv/bin/python -m tests.bench --help

The pipeline rows drive the real local stack (`prediag local start`, on free ports, with
`--param` overrides) through its HTTP API, the three fake AI providers answering after the same
latency L; figures are ratios to L (or to the ideal) so that they compare across machines. Every
row runs `--repeat` times on a fresh stack: the table shows the median and the range.

Rows: single (one case warm, and the first after a start), burst (N=20 and N=100 at the default
parameters), scaling (batch size 1, concurrency 1, 2, 4, 8), cpu (the stack's CPU per case),
submit (its handler time against one PutItem + one SendMessage), imports (each function's import
against boto3 + Powertools), sizes (the `sam build` artifacts), ensemble (the three providers in
parallel against L).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.bench import coldstart
from tests.bench.localstack import ROOT, BenchStack, settle, start_stack
from tests.bench.pipeline import Burst, Driver, cpu_per_case, submit_overhead
from tests.bench.report import Row, machine, render, write_doc
from tests.fakes import Behaviour, start_fakes

ROWS = ("single", "burst", "scaling", "cpu", "submit", "imports", "sizes", "ensemble")
BURSTS = (20, 100)
CONCURRENCIES = (1, 2, 4, 8)


def template_default(name: str) -> int:
    """A parameter's default in template.yaml (the stack runs with it when not overridden)."""
    text = (ROOT / "template.yaml").read_text()
    match = re.search(rf"^  {name}:\n(?:    .*\n)*?    Default: \"?(\d+)\"?$", text, re.M)
    if not match:
        raise RuntimeError(f"no default for parameter {name} in template.yaml")
    return int(match[1])


@contextmanager
def running(params: dict[str, str], ai_env: dict[str, str]) -> Iterator[BenchStack]:
    # Every case of a round is one owner's: the per-owner quota (20 an hour by default) is lifted
    # to its maximum so that it is not what the figures measure.
    stack = start_stack({"SubmissionsPerOwnerPerHour": "1000", **params}, ai_env)
    try:
        yield stack
    finally:
        stack.stop()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Suite:
    def __init__(
        self,
        latency: float,
        repeat: int,
        rows: set[str],
        scaling_n: int,
        params: dict[str, str] | None = None,
    ) -> None:
        self.latency = latency
        self.params = params or {}
        self.repeat = repeat
        self.rows = rows
        self.scaling_n = scaling_n
        self.table: dict[str, Row] = {}
        self.submit_ms: list[tuple[float, float]] = []
        self.poll_errors: list[str] = []
        self.stuck: list[str] = []

    def row(self, key: str, group: str, measure: str, **kwargs: object) -> Row:
        if key not in self.table:
            self.table[key] = Row(group, measure, **kwargs)  # type: ignore[arg-type]
        return self.table[key]

    def timeout(self, n: int) -> float:
        return 120 + 4 * n * self.latency

    # ------------------------------------------------------------------ default parameters
    def default_stack(self, ai_env: dict[str, str]) -> None:
        L = self.latency
        batch, conc = (
            int(self.params.get(name) or template_default(name))
            for name in ("NormalBatchSize", "NormalMaxConcurrency")
        )
        capacity = batch * conc
        with running(self.params, ai_env) as stack:
            driver = Driver(stack, self.latency)
            first = driver.one_case(self.timeout(1))
            driver.check_ensemble(first)
            if "single" in self.rows:
                self.row("first", "one case, POST -> completed", "first after start ÷ L",
                         ideal="1.00").samples.append(first.latency / L)  # fmt: skip
                warm = [driver.one_case(self.timeout(1)).latency / L for _ in range(3)]
                self.row("warm", "one case, POST -> completed", "warm ÷ L",
                         ideal="1.00").samples.append(statistics.median(warm))  # fmt: skip
            if self.rows & {"burst", "cpu"}:
                self.warm_up(driver, capacity)
            if "burst" in self.rows:
                for n in BURSTS:
                    driver.new_owner()
                    mark = stack.line_count()
                    if n == max(BURSTS) and "cpu" in self.rows:
                        burst, cpu = cpu_per_case(
                            stack, lambda n=n: driver.burst(n, L, capacity, self.timeout(n))
                        )
                        self.cpu_row(cpu, n)
                    else:
                        burst = driver.burst(n, L, capacity, self.timeout(n))
                    settle(stack, quiet_s=0.5)  # the last REPORT lines are in
                    cold = sum(1 for r in stack.reports(mark) if r.function == "analyze" and r.cold)
                    self.burst_rows(burst, batch, conc, cold)
            elif "cpu" in self.rows:
                n = max(BURSTS)
                driver.new_owner()
                _, cpu = cpu_per_case(stack, lambda: driver.burst(n, L, capacity, self.timeout(n)))
                self.cpu_row(cpu, n)
            if "submit" in self.rows:
                driver.new_owner()
                handler, raw = submit_overhead(driver)
                self.submit_ms.append((handler * 1000, raw * 1000))
                row = self.row("submit", "submit (warm)", "handler ÷ (PutItem + SendMessage)")
                row.samples.append(handler / raw)
                handler_ms = statistics.median(h for h, _ in self.submit_ms)
                raw_ms = statistics.median(r for _, r in self.submit_ms)
                row.note = f"handler {handler_ms:.1f} ms, PutItem + SendMessage {raw_ms:.1f} ms"
            self.close(driver)

    def warm_up(self, driver: Driver, capacity: int, most: int = 5) -> None:
        """Bursts of `capacity` cases until one starts no new analyze environment (the local
        stack initialises environments a few at a time, so one burst may reuse an environment
        that finished early and leave the lane one short)."""
        stack = driver.stack
        for _ in range(most):
            driver.new_owner()
            mark = stack.line_count()
            driver.burst(capacity, self.latency, capacity, self.timeout(capacity))
            settle(stack, quiet_s=0.5)
            if not any(r.cold for r in stack.reports(mark) if r.function == "analyze"):
                return

    def burst_rows(self, burst: Burst, batch: int, conc: int, cold: int) -> None:
        n, L = burst.n, self.latency
        group = f"N={n} at once (batch {batch}, concurrency {conc})"
        cap = math.ceil(n / burst.capacity)
        makespan = self.row(f"b{n}-makespan", group, "makespan ÷ ideal", ideal=f"1.00 (= {cap} L)")
        makespan.samples.append(burst.makespan / burst.ideal)
        self.row(f"b{n}-median", group, "median case ÷ L").samples.append(burst.quantile(0.5) / L)
        self.row(f"b{n}-p95", group, "p95 case ÷ L").samples.append(burst.quantile(0.95) / L)
        problems = [f"{burst.failed} cases not completed"] if burst.failed else []
        if burst.repeated:
            problems.append(f"{burst.repeated} cases analysed more than once")
        if cold:
            problems.append(f"{cold} analyze cold starts in one round")
        note = self.table[f"b{n}-makespan"].note
        self.table[f"b{n}-makespan"].note = "; ".join(filter(None, [note, *problems]))

    def cpu_row(self, cpu_s: float, n: int) -> None:
        self.row("cpu", "local stack CPU", f"CPU ms per case (N={n}, net of idle)", unit="",
                 digits=0).samples.append(cpu_s * 1000)  # fmt: skip

    # ------------------------------------------------------------------ scaling
    def scaling(self, ai_env: dict[str, str]) -> None:
        L, n = self.latency, self.scaling_n
        for conc in CONCURRENCIES:
            if conc == 1:
                continue
            params = {"NormalBatchSize": "1", "NormalMaxConcurrency": str(conc)}
            with running(params, ai_env) as stack:
                driver = Driver(stack, self.latency)
                driver.check_ensemble(driver.one_case(self.timeout(1)))
                if conc == min(c for c in CONCURRENCIES if c > 1) and 1 in CONCURRENCIES:
                    loop = driver.closed_loop(n // 2, L, self.timeout(1))
                    self.row("c1", "batch size 1, N cases", "concurrency 1: efficiency",
                             ideal="1.00", note=f"N={n // 2}, one case in flight at a time "
                             "(the trigger's minimum concurrency is 2)"
                             ).samples.append(loop.ideal / loop.makespan)  # fmt: skip
                self.warm_up(driver, conc)
                burst = driver.burst(n, L, conc, self.timeout(n))
                row = self.row(f"c{conc}", "batch size 1, N cases",
                               f"concurrency {conc}: efficiency", ideal="1.00",
                               note=f"N={n}, ideal {math.ceil(n / conc)} L")  # fmt: skip
                row.samples.append(burst.ideal / burst.makespan)
                if burst.failed:
                    row.note += f"; {burst.failed} cases not completed in one round"
                self.close(driver)

    def close(self, driver: Driver) -> None:
        driver.close()
        if driver.stuck:
            self.stuck += driver.stuck
            log(f"{len(driver.stuck)} cases did not finish: {'; '.join(driver.stuck[:3])}")
        if driver.poll_errors:
            self.poll_errors += driver.poll_errors
            log(f"{len(driver.poll_errors)} polls failed (retried): {driver.poll_errors[0]}")

    # ------------------------------------------------------------------ in-process rows
    def imports(self) -> None:
        times = coldstart.import_times(max(7, 3 * self.repeat))
        ref, ref_fastest = times.median_ms("reference"), times.fastest_ms("reference")
        for function, ratios in times.ratios.items():
            took, fastest = times.median_ms(function), times.fastest_ms(function)
            note = (
                f"median {took:.0f} ms vs {ref:.0f} ms; fastest runs {fastest:.0f} vs "
                f"{ref_fastest:.0f} ms ({fastest / ref_fastest:.2f})"
            )
            ideal = "≤ 1.20" if function == "submit" else ""
            row = self.row(f"import-{function}", "cold start: import ÷ boto3 + Powertools",
                           function, ideal=ideal, note=note)  # fmt: skip
            row.samples.extend(ratios)

    def sizes(self) -> None:
        found = coldstart.artifact_sizes()
        if not found:
            self.row("sizes", "artifacts (sam build)", "n/a", note="run `make build` first")
            return
        for name, (raw, zipped) in found.items():
            small = raw < 1e6
            unit, scale = ("kB", 1e3) if small else ("MB", 1e6)
            digits = 0 if small else 1
            note = f"{zipped / scale:.{digits}f} {unit} zipped"
            row = self.row(f"size-{name}", "artifacts (sam build)", f"{name} ({unit})",
                           digits=digits, note=note)  # fmt: skip
            row.samples.append(raw / scale)

    def ensemble(self) -> None:
        from tests.bench.ensemble import measure_ensemble

        parallel, sequential = measure_ensemble([self.latency], max(5, self.repeat))[self.latency]
        self.row("ens", "AI ensemble (in process)", "3 providers in parallel ÷ L", ideal="1.00",
                 ).samples.extend(p / self.latency for p in parallel)  # fmt: skip
        self.row("ens-seq", "AI ensemble (in process)", "one after the other ÷ L",
                 ideal="3.00").samples.extend(s / self.latency for s in sequential)  # fmt: skip

    # ------------------------------------------------------------------ all
    def run(self) -> list[Row]:
        stack_rows = self.rows & {"single", "burst", "cpu", "submit", "scaling"}
        if stack_rows:
            with start_fakes() as fakes:
                fakes.set_default(Behaviour("ok", delay_s=self.latency))
                ai_env = fakes.env()
                for i in range(self.repeat):
                    if stack_rows - {"scaling"}:
                        log(f"round {i + 1}/{self.repeat}: default parameters")
                        self.default_stack(ai_env)
                    if "scaling" in self.rows:
                        log(f"round {i + 1}/{self.repeat}: scaling at batch size 1")
                        self.scaling(ai_env)
        if "ensemble" in self.rows:
            log("ensemble")
            self.ensemble()
        if "imports" in self.rows:
            log("imports")
            self.imports()
        if "sizes" in self.rows:
            self.sizes()
        order = ["first", "warm", *(f"b{n}-{m}" for n in BURSTS
                 for m in ("makespan", "median", "p95")),
                 *(f"c{c}" for c in CONCURRENCIES), "cpu", "submit", "ens", "ens-seq"]  # fmt: skip
        rows = [self.table[k] for k in order if k in self.table]
        return rows + [r for k, r in self.table.items() if k not in order]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--latency", type=float, default=0.5, help="providers' latency L (s)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (fresh stacks) per row")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated: {ROWS}")
    parser.add_argument("--scaling-n", type=int, default=32, help="cases per scaling run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter for the default-parameter stack (repeatable)",
    )
    args = parser.parse_args(argv)
    params = dict(p.split("=", 1) for p in args.param if "=" in p)
    if len(params) != len(args.param):
        parser.error("--param takes NAME=VALUE")
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = rows - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {sorted(unknown)}")
    started = time.monotonic()
    info = machine()
    suite = Suite(args.latency, args.repeat, rows, args.scaling_n, params)
    table = suite.run()
    settings = (
        f"`python -m tests.bench --latency {args.latency} --repeat {args.repeat} "
        f"--rows {','.join(r for r in ROWS if r in rows)}"
        f"{''.join(f' --param {k}={v}' for k, v in params.items())}` "
        f"({time.monotonic() - started:.0f} s)"
    )
    if suite.stuck:
        settings += f"; {len(suite.stuck)} cases did not finish in time: {', '.join(suite.stuck)}"
    if suite.poll_errors:
        settings += f"; {len(suite.poll_errors)} status polls answered 5xx and were repeated"
    block = render(table, info, settings)
    print(block)
    if not args.no_write:
        write_doc(block)
        log(f"written to {coldstart.ROOT / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
