"""Run the three fake providers until interrupted:

    python -m tests.fakes --port-base 8701 [--latency 0.5] [--urgency urgent]

Prints the environment (KEY=value lines) that points the SDKs at them, then serves until
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tests.fakes import Behaviour, Scenario, start_fakes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--port-base", type=int, default=8701, help="first of three ports")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--urgency",
        default="urgent",
        choices=["immediate", "very_urgent", "urgent", "standard", "non_urgent"],
        help="urgency of the scenario the fakes answer with",
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with start_fakes(args.port_base, scenario=Scenario(urgency=args.urgency)) as fakes:
        fakes.set_default(Behaviour("ok", delay_s=args.latency))
        for key, value in fakes.env().items():
            print(f"{key}={value}")
        print("fakes ready", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
