"""``voxgate``: serve the gateway, or measure it."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from pydantic import ValidationError

from voxgate.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from voxgate.server.app import create_app

    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("agents", args.agents))
        if v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"VOXGATE_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        print(f"voxgate: invalid settings: {problems}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(settings), **uvicorn_options(settings), log_level="info")
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``voxgate serve`` runs uvicorn.

    WebSockets on websockets' Sans-I/O implementation: its keepalive pings go out on a timer
    even while a send waits for a client that does not read, so a dead client is dropped after
    ``ws_ping_timeout_s``. The legacy implementation's ping waited on the same drain as that
    send and died with ``AssertionError``, and the client was never dropped.
    permessage-deflate is declined: it keeps ~150 KB of zlib state per connection (RSS grew by
    70 MB over 12 rounds of 300 sessions, ``bench soak``) and deflates every PCM frame for little.
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "ws": "websockets-sansio",
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": False,
    }


def _bench_webrtc(args: argparse.Namespace) -> int:
    from voxgate.bench import webrtc

    return webrtc.main(args)


def _bench_latency(args: argparse.Namespace) -> int:
    from voxgate.bench import latency

    return latency.main(args)


def _bench_tools(args: argparse.Namespace) -> int:
    from voxgate.bench import tools

    return tools.main(args)


def _bench_conversation(args: argparse.Namespace) -> int:
    from voxgate.bench import conversation

    return conversation.main(args)


def _bench_mix(args: argparse.Namespace) -> int:
    from voxgate.bench import mix

    return mix.main(args)


def _bench_soak(args: argparse.Namespace) -> int:
    from voxgate.bench import soak

    return soak.main(args)


def _settings_help() -> str:
    lines = ["settings (environment variables, or a .env file):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"  VOXGATE_{name.upper():<28} {field.description} (default: {default})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="voxgate", description="Realtime voice-agent gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve sessions, the web UI and the API",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument(
        "--agents",
        metavar="FILE",
        help="Python file defining `agent` or `starting_agent` (docs/agents.md); "
        "`demo` (default): the bundled airline agents; `none`: no agents",
    )
    serve.set_defaults(run=_serve)

    bench = commands.add_parser("bench", help="measure a running or embedded gateway")
    kinds = bench.add_subparsers(dest="kind", required=True)
    lat = kinds.add_parser("latency", help="voice-to-voice latency and WER over the WebSocket")
    lat.add_argument(
        "--url", help="address of a running voxgate, ws:// or http:// (default: start one)"
    )
    lat.add_argument("-n", "--utterances", type=_positive, default=10, help="utterances to speak")
    lat.add_argument(
        "--transport",
        choices=["websocket", "webrtc"],
        default="websocket",
        help="how the spoken turns travel: /ws, or WebRTC (Opus) via /api/webrtc/offer",
    )
    lat.add_argument(
        "--conversations",
        type=_positive,
        default=1,
        help="sessions that take turns speaking, each with its own history (default 1)",
    )
    lat.add_argument(
        "--agents",
        default="none",
        help="agents of the server it starts (default none: the bare voice loop; demo: the "
        "airline agents, whose tool routing runs every turn)",
    )
    lat.set_defaults(run=_bench_latency)
    tools = kinds.add_parser(
        "tools", help="tool choice of the embedded LLM over typed requests to the demo agents"
    )
    tools.add_argument(
        "--agent",
        choices=["triage_agent", "faq_agent", "seat_booking_agent"],
        help="only this agent's cases",
    )
    tools.set_defaults(run=_bench_tools)
    talk = kinds.add_parser(
        "conversation",
        help="a ten-turn spoken conversation with the agents in an unseen voice, judged per turn",
    )
    talk.add_argument("--url", help="address of a running voxgate (default: start one)")
    talk.add_argument(
        "--agents", default="demo", help="agents of the server it starts (default demo)"
    )
    talk.add_argument("--voice", default="en-us+m3", help="espeak-ng voice the caller speaks with")
    talk.add_argument(
        "--pauses",
        action="store_true",
        help="also speak five sentences with a 0.7 s thinking pause and count false cut-offs",
    )
    talk.set_defaults(run=_bench_conversation)
    rtc = kinds.add_parser(
        "webrtc", help="WebRTC sessions per core and frame loss (loopback engine, aiortc peers)"
    )
    rtc.add_argument("--url", help="http://host:port of a voxgate serving VOXGATE_ENGINE=loopback")
    rtc.add_argument("-n", "--sessions", type=int, default=50, help="concurrent peers")
    rtc.add_argument("--seconds", type=float, default=20, help="length of the measured window")
    rtc.add_argument(
        "--procs", type=int, default=1, help="processes to spread the peers over (default 1)"
    )
    rtc.add_argument("--start-at", type=float, help=argparse.SUPPRESS)  # peer process: common start
    rtc.add_argument("--label", default="", help=argparse.SUPPRESS)
    rtc.set_defaults(run=_bench_webrtc)
    soak = kinds.add_parser(
        "soak", help="server RSS over rounds of sessions opened and closed (loopback engine)"
    )
    soak.add_argument("--url", help="http://host:port of a running voxgate (default: start one)")
    soak.add_argument("--pid", type=int, help="process id of the --url server (for its RSS)")
    soak.add_argument("--sessions", type=_positive, default=300, help="sessions per round")
    soak.add_argument("--rounds", type=_positive, default=12, help="rounds of open and close")
    soak.set_defaults(run=_bench_soak)
    mixing = kinds.add_parser(
        "mix", help="cost of mixing participants' microphones, µs per 20 ms frame (no models)"
    )
    mixing.add_argument(
        "--frames", type=_positive, default=5000, help="20 ms frames per figure (default 5000)"
    )
    mixing.set_defaults(run=_bench_mix)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voxgate`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
