"""Run the sandbox until Ctrl-C: `python -m tsync.sandbox [--folder DIR] [--events FILE] [--reset]`."""

import argparse
import shlex
import sys
import threading

from tsync.errors import InputError
from tsync.logs import configure_logging
from tsync.sandbox.events_file import load_events_file
from tsync.sandbox.sandbox import Sandbox

DEFAULT_FOLDER = ".tsync-sandbox"


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tsync.sandbox",
        description="Serve simulated Tripleseat and Revel APIs on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--folder", default=DEFAULT_FOLDER, help=f"folder for revel.json, mapping.csv and tsync.db (default {DEFAULT_FOLDER})")
    parser.add_argument("--events", metavar="FILE", help="JSON file of Tripleseat events to serve instead of the seed")
    parser.add_argument("--reset", action="store_true", help="delete the folder's sandbox files and ledger first")
    parser.add_argument("--verbose", action="store_true", help="log every request (method, path, status)")
    args = parser.parse_args(argv)

    configure_logging(verbose=args.verbose)
    try:
        events = load_events_file(args.events) if args.events else None
    except InputError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2

    if args.reset:
        Sandbox.reset(args.folder)

    sandbox = Sandbox(args.folder, events=events)
    with sandbox:
        print(f"Tripleseat sandbox: {sandbox.tripleseat_url}")
        print(f"Revel sandbox:      {sandbox.revel_url}")
        print("# Settings for tsync (the secrets are the sandbox's fixed, public values):")
        for name, value in sandbox.settings_values().items():
            print(f"{name}={shlex.quote(value)}")
        print("# Press Ctrl-C to stop.", flush=True)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
