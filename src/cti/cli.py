"""Command line: `cti serve`, `cti check-config`, `cti bench NAME`, `cti --version`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from cti.version import VERSION
from cti.config import ConfigError, Settings, load_settings
from cti.logs import configure_logging


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cti", description="CTI server and ACD for Asterisk.")
    p.add_argument("--version", action="version", version=f"cti {VERSION}")
    p.add_argument("--config", type=Path, help="TOML file (CTI_* variables override it)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the CTI server against Asterisk")
    sub.add_parser("check-config", help="validate the configuration and print it (no secrets)")
    sub.add_parser("migrate", help="apply the database migrations (idempotent)")
    ast = sub.add_parser(
        "asterisk-config", help="print PJSIP endpoints and fallback queue members for the agents"
    )
    ast.add_argument("file", type=Path, help="ACD file with the agents (deploy/acd.yaml)")
    check_ivr = sub.add_parser("check-ivr", help="validate an IVR definition file")
    check_ivr.add_argument("file", type=Path)
    load = sub.add_parser("load-classifier", help="load a topic classifier file into the database")
    load.add_argument("file", type=Path)
    sub.add_parser("purge", help="delete data past its retention (store.retention_days)")
    user = sub.add_parser("user", help="API users: add one, or issue a token")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user (the password, if any, is read from stdin)")
    add.add_argument("username")
    add.add_argument(
        "--role", required=True, choices=["agent", "supervisor", "admin", "integrator"]
    )
    add.add_argument("--agent", default=None, help="the ACD agent id an agent user acts as")
    add.add_argument("--password-stdin", action="store_true", help="read a password from stdin")
    token = user_sub.add_parser("token", help="issue a token (printed once)")
    token.add_argument("username")
    token.add_argument("--api-key", action="store_true", help="no expiry (for integrators)")
    demo = sub.add_parser(
        "demo", help="a whole hotline here: simulated PBX, embedded PostgreSQL, bots, callers"
    )
    demo.add_argument(
        "--workload", type=Path, default=None, help="workload file (default: the reference)"
    )
    demo.add_argument(
        "--speed", type=_positive, default=1.0, help="simulated seconds per wall second"
    )
    demo.add_argument(
        "--duration", type=_positive, default=None, help="stop after this many wall seconds"
    )
    demo.add_argument("--seed", type=int, default=None, help="traffic seed (default: the file's)")
    demo.add_argument("--ivr", type=Path, default=None, help="IVR file (default: deploy/ivr.yaml)")
    demo.add_argument("--record", action="store_true", help="record every answered call")
    check_acd = sub.add_parser(
        "check-acd", help="validate an ACD file (queues, agents) and summarise it"
    )
    check_acd.add_argument("file", type=Path)
    bench = sub.add_parser("bench", help="print performance figures (last line: JSON)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ami = bench_sub.add_parser("ami", help="AMI parse -> typed event -> tracker throughput")
    ami.add_argument("--events", type=int, default=300_000, help="stream length")
    ami.add_argument(
        "--transcripts",
        type=Path,
        default=None,
        help="folder of Asterisk transcripts (default: ../shared/ami-transcripts)",
    )
    sim = bench_sub.add_parser(
        "sim", help="calls/s the simulated PBX + CTI sustain in real time (30, 1000 agents)"
    )
    sim.add_argument("--seconds", type=_positive, default=4.0, help="wall seconds per step")
    sim.add_argument(
        "--max-rate", type=_positive, default=3200.0, help="stop the ramp at this rate"
    )
    api_bench = bench_sub.add_parser(
        "api", help="screen-pop latency AMI -> agent websocket (30, 1000 agents), REST lookups"
    )
    api_bench.add_argument("--calls", type=int, default=300)
    store = bench_sub.add_parser(
        "store", help="screen-pop query on a filled database, outbox write rate"
    )
    store.add_argument("--interactions", type=int, default=1_000_000)
    store.add_argument("--cases", type=int, default=200_000)
    store.add_argument("--outbox-records", type=int, default=20_000)
    routing = bench_sub.add_parser(
        "routing", help="ACD routing in simulated time vs FCFS references"
    )
    routing.add_argument(
        "workload",
        type=Path,
        nargs="?",
        default=None,
        help="workload file (default: ../shared/workloads/hotline-reference.yaml)",
    )
    routing.add_argument(
        "--replications", type=int, default=None, help="days to simulate (default: the file's)"
    )
    return p


def _settings(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print("configuration is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _invalid(what: str, exc: ConfigError) -> int:
    """Exit code 2 with one line per problem."""
    print(f"{what} is invalid:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        settings = _settings(args.config)
        print(settings.model_dump_json(indent=2))  # SecretStr dumps as "**********"
        return 0
    if args.command == "check-acd":
        from cti.queues import load_acd_config

        try:
            acd = load_acd_config(args.file)
        except ConfigError as exc:
            return _invalid("ACD configuration", exc)
        for name, queue in acd.queues.items():
            members = sum(name in a.queues for a in acd.agents)
            skills = ", ".join(f"{k}>={v}" for k, v in queue.skills.items()) or "any agent"
            print(f"queue {name}: {skills}, priority {queue.priority}, {members} agents")
        print(f"{len(acd.agents)} agents, not-ready reasons: {', '.join(acd.not_ready_reasons)}")
        return 0
    if args.command == "asterisk-config":
        from cti.asterisk_config import render
        from cti.queues import load_acd_config

        try:
            print(render(load_acd_config(args.file)))
        except ConfigError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 2
        return 0
    if args.command == "check-ivr":
        from cti.ivr.models import load_ivr

        try:
            definition = load_ivr(args.file)
        except ConfigError as exc:
            return _invalid("IVR definition", exc)
        for script, start in definition.scripts.items():
            print(f"script {script}: starts at {start}")
        print(f"{len(definition.nodes)} nodes, time zone {definition.timezone}")
        return 0
    if args.command in ("migrate", "load-classifier", "purge", "user"):
        settings = _settings(args.config)
        configure_logging("warning", settings.log.format)
        from cti.store.admin import run_admin

        return run_admin(settings, args.command, getattr(args, "file", None), args)
    if args.command == "demo":
        settings = _settings(args.config)
        configure_logging("warning", settings.log.format)
        from cti.demo import DemoOptions
        from cti.demo import main as demo_main

        options = DemoOptions(
            args.workload, args.speed, args.duration, args.seed, ivr=args.ivr, record=args.record
        )
        try:
            return demo_main(settings, options)
        except Exception as exc:  # a clear one-line reason, not a traceback
            code = getattr(exc, "code", type(exc).__name__)
            print(f"cti demo: {code}: {exc}", file=sys.stderr)
            return 1
    if args.command == "serve":
        settings = _settings(args.config)
        configure_logging(settings.log.level, settings.log.format)
        from cti.app import database, serve

        try:
            with database(settings) as url:
                asyncio.run(serve(settings, database_url=url))
        except Exception as exc:  # a clear one-line reason, not a traceback
            code = getattr(exc, "code", type(exc).__name__)
            print(f"cti: {code}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "bench" and args.bench == "ami":
        from cti.bench.ami import run

        return run(events=args.events, transcripts=args.transcripts)
    if args.command == "bench" and args.bench == "sim":
        from cti.bench import sim as bench_sim

        return bench_sim.run(args.seconds, args.max_rate)
    if args.command == "bench" and args.bench == "api":
        from cti.bench import api as bench_api

        return bench_api.run(args.calls)
    if args.command == "bench" and args.bench == "store":
        from cti.bench import store as bench_store

        return bench_store.run(args.interactions, args.cases, outbox_records=args.outbox_records)
    if args.command == "bench" and args.bench == "routing":
        from cti.bench import routing as bench_routing

        try:
            return bench_routing.run(args.workload, args.replications)
        except ConfigError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
