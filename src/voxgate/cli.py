"""``voxgate``: serve the gateway, manage its users, or measure it."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from typing import Any

from pydantic import ValidationError

from voxgate.settings import ROLES, Settings


def _settings(**overrides: Any) -> Settings | None:
    """The settings, or None after printing what is wrong with them."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"VOXGATE_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        print(f"voxgate: invalid settings: {problems}", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from voxgate.observability import logs
    from voxgate.server.app import create_app

    given = (
        ("host", args.host),
        ("port", args.port),
        ("agents", args.agents),
        ("log_format", args.log_format),
    )
    settings = _settings(**{k: v for k, v in given if v is not None})
    if settings is None:
        return 2
    logs.configure(settings.log_format)
    if args.worker:
        from voxgate.server.workers import run_worker

        index, count, fd = (int(part) for part in args.worker.split("/"))
        if settings.node_id is not None:  # each worker is a node of the cluster
            settings = settings.model_copy(update={"node_id": f"{settings.node_id}-{index}"})
        run_worker(create_app(settings), uvicorn_options(settings), fd, index, count)
        return 0
    if args.workers > 1:
        from voxgate.server.workers import run_front

        forwarded: list[str] = []
        for flag, value in (("--agents", args.agents), ("--log-format", args.log_format)):
            forwarded += [flag, value] if value is not None else []
        return run_front(settings.host, settings.port, args.workers, forwarded)
    app = create_app(settings)
    if settings.redis_url is None:
        uvicorn.run(app, **uvicorn_options(settings), log_level="info")
        return 0
    from voxgate.server.drain import DrainingServer, drain

    server = DrainingServer(
        uvicorn.Config(app, **uvicorn_options(settings), log_level="info"),
        functools.partial(drain, app.state.gateway),
    )
    server.run()
    return 0 if server.started else 3


WS_MAX_SIZE = 16 * 1024 * 1024
"""uvicorn's own limit on a WebSocket frame."""


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``voxgate serve`` runs uvicorn.

    WebSockets on websockets' Sans-I/O implementation: its keepalive pings go out on a timer
    even while a send waits for a client that does not read, so a dead client is dropped after
    ``ws_ping_timeout_s``. The legacy implementation's ping waited on the same drain as that
    send and died with ``AssertionError``, and the client was never dropped.
    permessage-deflate is declined: it keeps ~150 KB of zlib state per connection (RSS grew by
    70 MB over 12 rounds of 300 sessions, ``bench soak``) and deflates every PCM frame for little.
    With JSON logs uvicorn keeps no log setup of its own: its lines go through the root logger.
    Frames are closed (1009) past uvicorn's 16 MiB, or past the largest message voxgate takes
    (an event with an image) when that is more: anything under it gets an ``error`` instead.
    """
    from voxgate.wire import WireLimits

    json_logs = {"log_config": None} if settings.log_format == "json" else {}
    largest = WireLimits.from_settings(settings).max_message_bytes
    return {
        **json_logs,
        "host": settings.host,
        "port": settings.port,
        "ws": "websockets-sansio",
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": False,
        "ws_max_size": max(WS_MAX_SIZE, largest + WS_MAX_SIZE // 16),
    }


def _users(args: argparse.Namespace) -> int:
    """``voxgate users ...``: the store ``serve`` uses (``database_url`` / ``data_dir``)."""
    settings = _settings()
    if settings is None:
        return 2
    return asyncio.run(_users_command(args, settings))


async def _users_command(args: argparse.Namespace, settings: Settings) -> int:
    from voxgate.store import Database, database_url
    from voxgate.store.users import UnknownUser, UserError, Users

    db = await Database.open(database_url(settings.database_url, settings.data_dir))
    users = Users(db)
    try:
        if args.action == "add":
            user, key = await users.add(args.name, args.role)
            print(f"added user {user.name} ({user.id}), role {user.role}; its API key:")
            print(key)
        elif args.action == "list":
            listed = await users.all()
            for u in listed:
                state = "disabled" if u.disabled else "enabled"
                keys = ", ".join(f"{k}..." for k in u.keys) or "no keys"
                print(f"{u.name:<24} {u.role:<7} {state:<9} {u.id}  {keys}")
            if not listed:
                print("no users: the server is open unless VOXGATE_AUTH_REQUIRED or keys are set")
        elif args.action in ("disable", "enable"):
            user = await users.update(args.name, disabled=args.action == "disable")
            print(f"{args.action}d user {user.name} (a running server sees it within seconds)")
        elif args.action == "rotate":
            user, key = await users.rotate(args.name)
            print(f"revoked the keys of {user.name}; its new API key:")
            print(key)
    except (UserError, UnknownUser) as exc:
        print(f"voxgate: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    return 0


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


def _bench_relay(args: argparse.Namespace) -> int:
    from voxgate.bench import relay

    return relay.main(args)


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
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes to serve with (one per core); each session lives in one of them and "
        "every connection naming it reaches that one (default 1)",
    )
    serve.add_argument("--worker", help=argparse.SUPPRESS)  # INDEX/COUNT/FD: a worker of the front
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text (default) or one JSON object each, with session and "
        "participant ids",
    )
    serve.set_defaults(run=_serve)

    users = commands.add_parser(
        "users",
        help="add, list, disable, enable users and rotate their keys (the store serve uses)",
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user; its new API key is the last line printed")
    add.add_argument("name", help="letters, digits and . _ @ + -")
    add.add_argument("--role", choices=ROLES, default="user", help="what it may do (default user)")
    actions.add_parser("list", help="every user: name, role, state, id, key prefixes")
    for action, what in (
        ("disable", "refuse the user's keys, tokens and tickets"),
        ("enable", "accept them again"),
        ("rotate", "revoke the user's keys and print a new one (its last line)"),
    ):
        actions.add_parser(action, help=what).add_argument("name", help="the user's name or id")
    users.set_defaults(run=_users)

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
    relay = kinds.add_parser(
        "relay",
        help="sessions relayed to a hosted model: latency over direct, CPU per frame, RSS per "
        "session (an OpenAI Realtime simulator on 127.0.0.1)",
    )
    relay.add_argument("-n", "--sessions", type=_positive, default=50, help="concurrent callers")
    relay.add_argument("--seconds", type=float, default=20, help="length of the load")
    relay.add_argument(
        "--soak",
        type=_positive,
        metavar="MINUTES",
        help="keep the load on this long and report RSS growth per session per minute",
    )
    relay.add_argument(
        "--data-dir",
        default=None,
        help="the server's data directory (default: a new temporary one)",
    )
    relay.add_argument("--server-log", metavar="FILE", help="write the server's log here")
    relay.add_argument(
        "--workers", type=_positive, default=1, help="voxgate serve --workers (default 1)"
    )
    relay.add_argument(
        "--compare",
        choices=["pipecat"],
        help="run the same callers through Pipecat 1.14 too (installed on first use into a "
        "venv of the bench's own) and add its figures and ratios under 'pipecat'",
    )
    relay.add_argument(
        "--pipecat-venv",
        metavar="DIR",
        help="the bench's Pipecat venv (default: ~/.cache/voxgate/bench-pipecat-1.14.0)",
    )
    relay.set_defaults(run=_bench_relay)
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
