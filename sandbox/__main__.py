"""Command line: `python -m sandbox --http HOST:PORT --grpc HOST:PORT --platform FILE`
or `python -m sandbox export-billing --platform FILE --month YYYY-MM > export.jsonl`."""

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime

from .export import write_ndjson
from .monitoring import start_grpc
from .platform import load_platform
from .server import SandboxHTTPServer
from .state import Options, State


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    parser.add_argument("--http", default="127.0.0.1:8085", help="REST address (port 0 = any)")
    parser.add_argument("--grpc", default="127.0.0.1:8086", help="gRPC address (port 0 = any)")
    parser.add_argument("--platform", required=True, help="platform definition TOML file")
    parser.add_argument("--state", help="JSON file that keeps the state across restarts")
    parser.add_argument("--rps", type=float, default=20.0, help="requests/s per service")
    parser.add_argument(
        "--ready-delay", type=float, default=2.0, help="seconds until operations finish"
    )
    args = parser.parse_args(argv)
    state = State(
        load_platform(args.platform),
        Options(rps=args.rps, ready_delay=args.ready_delay, state_path=args.state),
    )
    http = SandboxHTTPServer(_address(args.http), state)
    grpc_server, grpc_port = start_grpc(state, args.grpc)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    host, port = http.server_address[:2]
    grpc_host = _address(args.grpc)[0]
    print(f"sandbox ready http=http://{host}:{port} grpc={grpc_host}:{grpc_port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    http.shutdown()
    grpc_server.stop(grace=1)
    with state.lock:
        state.save()
    return 0


def export_billing(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox export-billing")
    parser.add_argument("--platform", required=True)
    parser.add_argument("--month", required=True, help="invoice month, YYYY-MM or YYYYMM")
    parser.add_argument("--as-of", help="only usage ended before this ISO time (default: all)")
    args = parser.parse_args(argv)
    as_of = (
        datetime.fromisoformat(args.as_of).astimezone(UTC)
        if args.as_of
        else datetime(9999, 1, 1, tzinfo=UTC)
    )
    write_ndjson(load_platform(args.platform), args.month, as_of, sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "export-billing":
        return export_billing(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
