"""Command line: `cti serve`, `cti check-config`, `cti bench NAME`, `cti --version`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from cti.config import ConfigError, Settings, load_settings
from cti.logs import configure_logging
from cti.version import VERSION

_PROMPTS_FILE = "an IVR definition (deploy/ivr.yaml) or a survey campaign (its JSON spec)"


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
    serve_cmd = sub.add_parser("serve", help="run the CTI server against Asterisk")
    serve_cmd.add_argument(
        "--fail-fast",
        action="store_true",
        help="exit 1 at once if Asterisk cannot be reached or refuses the login"
        " (default: log why and keep trying)",
    )
    sub.add_parser("check-config", help="validate the configuration and print it (no secrets)")
    sub.add_parser("migrate", help="apply the database migrations (idempotent)")
    ast = sub.add_parser(
        "asterisk-config", help="print PJSIP endpoints and fallback queue members for the agents"
    )
    ast.add_argument("file", type=Path, help="ACD file with the agents (deploy/acd.yaml)")
    ast.add_argument(
        "--supervisor",
        action="append",
        default=[],
        metavar="NAME",
        help="also a phone for this supervisor (PJSIP endpoint name; repeatable)",
    )
    soak = sub.add_parser(
        "soak",
        help="the simulated hotline under load while the CTI, PostgreSQL and Asterisk are"
        " killed in turn; then every call, agent and caller checked (docs/soak.md)",
    )
    soak.add_argument("--minutes", type=_positive, default=10.0, help="how long (default 10)")
    soak.add_argument(
        "--speed", type=_positive, default=10.0, help="simulator clock speed-up (default 10)"
    )
    soak.add_argument(
        "--load", type=_positive, default=2.0, help="times the reference calls/h (default 2)"
    )
    soak.add_argument("--seed", type=int, default=1)
    soak.add_argument("--dir", type=Path, help="keep everything here (default: a temp folder)")
    prompts = sub.add_parser(
        "prompts", help="the sound files an IVR definition or a survey campaign plays"
    )
    prompts_sub = prompts.add_subparsers(dest="prompts_command", required=True)
    prompts_list = prompts_sub.add_parser("list", help="print the prompt names, one a line")
    prompts_list.add_argument("file", type=Path, help=_PROMPTS_FILE)
    prompts_make = prompts_sub.add_parser(
        "make", help="placeholder WAVs (espeak-ng + sox, 8 kHz mono) for the missing prompts"
    )
    prompts_make.add_argument("file", type=Path, help=_PROMPTS_FILE)
    prompts_make.add_argument("dir", type=Path, help="Asterisk's sounds folder: DIR/<lang>/...")
    prompts_make.add_argument("--lang", default="bg,en", help="languages, comma-separated")
    prompts_make.add_argument(
        "--texts", type=Path, default=None, help="YAML: prompt -> language -> words to say"
    )
    prompts_make.add_argument("--overwrite", action="store_true", help="remake existing files")
    check_ivr = sub.add_parser("check-ivr", help="validate an IVR definition file")
    check_ivr.add_argument("file", type=Path)
    load = sub.add_parser("load-classifier", help="load a topic classifier file into the database")
    load.add_argument("file", type=Path)
    sub.add_parser("purge", help="delete data past its retention (store.retention_days)")
    from cti.store.importer import add_parser as add_import_parser

    add_import_parser(sub)
    user = sub.add_parser("user", help="API users: add one, or issue a token")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user (the password, if any, is read from stdin)")
    add.add_argument("username")
    add.add_argument(
        "--role",
        required=True,
        choices=["agent", "supervisor", "admin", "integrator", "organisation"],
    )
    add.add_argument("--agent", default=None, help="the ACD agent id an agent user acts as")
    add.add_argument(
        "--organisation",
        action="append",
        default=[],
        metavar="ORG",
        help="an organisation whose cases an organisation user works (repeatable)",
    )
    add.add_argument("--email", default=None, help="where deadline alerts are e-mailed")
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
    rec = sub.add_parser(
        "reconcile",
        help="compare our call records of a period with Asterisk's CEL (CDR, queue_log);"
        " exit 1 on any disagreement",
    )
    rec.add_argument(
        "--from", dest="start", required=True, metavar="ISO", help="calls that arrived from"
    )
    rec.add_argument(
        "--to", dest="end", required=True, metavar="ISO", help="until (with a time zone)"
    )
    rec.add_argument("--cel", type=Path, required=True, metavar="FILE", help="CEL custom CSV")
    rec.add_argument("--cdr", type=Path, default=None, metavar="FILE", help="CDR custom CSV")
    rec.add_argument("--queue-log", type=Path, default=None, metavar="FILE", help="queue_log")
    rec.add_argument(
        "--acd", type=Path, default=None, metavar="FILE", help="agents (default: setting acd)"
    )
    rec.add_argument(
        "--tolerance-s", type=float, default=0.1, metavar="S", help="for times (default 0.1)"
    )
    bench = sub.add_parser("bench", help="print performance figures (last line: JSON)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ami = bench_sub.add_parser("ami", help="AMI parse -> typed event -> tracker throughput")
    ami.add_argument("--events", type=int, default=300_000, help="stream length")
    ami.add_argument(
        "--transcripts",
        type=Path,
        default=None,
        help="folder of Asterisk transcripts (default: CTI_TRANSCRIPTS_DIR, else the checkout's"
        " tests/transcripts)",
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
    campaign = bench_sub.add_parser(
        "campaign", help="telling citizens results in simulated time beside the inbound load"
    )
    campaign.add_argument("--numbers", type=int, default=10_000)
    campaign.add_argument("--keep-ready", type=int, default=None, help="default: deploy's")
    campaign.add_argument("--lines", type=int, default=None, help="default: deploy's")
    campaign.add_argument("--wait-limit", type=float, default=None, help="seconds")
    bench_import = bench_sub.add_parser(
        "import", help="cti import of an old system's past calls: time, memory, nothing twice"
    )
    bench_import.add_argument("--lines", type=int, default=100_000)
    failover = bench_sub.add_parser(
        "failover", help="two CTIs under traffic: kill or freeze the leader, time the takeover"
    )
    failover.add_argument("--rounds", type=int, default=10)
    failover.add_argument("--speed", type=_positive, default=10.0)
    failover.add_argument("--load", type=_positive, default=2.0)
    failover.add_argument("--seed", type=int, default=1)
    failover.add_argument("--dir", type=Path, default=None, help="keep the logs here")
    failover.add_argument(
        "--drain-s", type=_positive, default=120.0, help="calls left to end after the traffic"
    )
    routing = bench_sub.add_parser(
        "routing", help="ACD routing in simulated time vs FCFS references"
    )
    routing.add_argument(
        "workload",
        type=Path,
        nargs="?",
        default=None,
        help="workload file (default: the reference, hotline-reference.yaml, shipped with cti)",
    )
    routing.add_argument(
        "--replications", type=int, default=None, help="days to simulate (default: the file's)"
    )
    routing.add_argument(
        "--days", type=int, default=0, help="also run N further days (seeds after the file's)"
    )
    routing.add_argument(
        "--what-if",
        nargs="*",
        default=None,
        metavar="CHANGE",
        help="add:POOL or train:POOL:TOPIC (level 7); alone: every pool +1 and cross-trained",
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


def _prompts(args: argparse.Namespace) -> int:
    """`cti prompts list|make`: what the IVR plays, and placeholders for it."""
    import subprocess

    from cti import prompts

    try:
        names = prompts.file_prompt_names(args.file)
    except ConfigError as exc:
        return _invalid("IVR definition or campaign", exc)
    if args.prompts_command == "list":
        print("\n".join(names))
        return 0
    languages = [lang.strip() for lang in args.lang.split(",") if lang.strip()]
    texts = None
    if args.texts is not None:
        texts = _prompt_texts(args.texts)
        if texts is None:
            return 2
    missing = prompts.missing_tools()
    if missing:
        print(f"cti prompts make: needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 2
    try:
        made, kept = prompts.make(names, args.dir, languages, texts=texts, overwrite=args.overwrite)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"cti prompts make: {exc}", file=sys.stderr)
        return 1
    for item in made:
        print(f"made {item.path} ({item.language}): {item.text}")
    print(f"{len(made)} made, {len(kept)} already there")
    return 0


def _prompt_texts(path: Path) -> dict[str, dict[str, str]] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return None
    ok = isinstance(data, dict) and all(
        isinstance(v, dict) and all(isinstance(t, str) for t in v.values()) for v in data.values()
    )
    if not ok:
        print(f"{path}: expected prompt -> language -> text", file=sys.stderr)
        return None
    return {str(k): {str(lang): t for lang, t in v.items()} for k, v in data.items()}


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
            print(render(load_acd_config(args.file), supervisors=args.supervisor))
        except ConfigError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 2
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    if args.command == "prompts":
        return _prompts(args)
    if args.command == "check-ivr":
        from cti.ivr.models import load_ivr

        try:
            definition = load_ivr(args.file)
        except ConfigError as exc:
            return _invalid("IVR definition", exc)
        for script, start in definition.scripts.items():
            print(f"script {script}: starts at {start}")
        for number, entry in definition.numbers.items():
            print(f"number {number} ({entry.name}): starts at {entry.start}")
        print(f"{len(definition.nodes)} nodes, time zone {definition.timezone}")
        return 0
    if args.command == "import":
        settings = _settings(args.config)
        configure_logging("warning", settings.log.format)
        from cti.store.importer import main as import_main

        return import_main(settings, args)
    if args.command in ("migrate", "load-classifier", "purge", "user"):
        settings = _settings(args.config)
        configure_logging("warning", settings.log.format)
        from cti.store.admin import run_admin

        return run_admin(settings, args.command, getattr(args, "file", None), args)
    if args.command == "reconcile":
        settings = _settings(args.config)
        configure_logging("warning", settings.log.format)
        from cti.app import database
        from cti.reconcile import service as reconcile
        from cti.reconcile.errors import InputError

        try:
            period_options = reconcile.make_options(
                args.start,
                args.end,
                args.cel,
                args.cdr,
                args.queue_log,
                args.acd,
                args.tolerance_s,
            )
        except InputError as exc:
            print(f"cti reconcile: {exc.message}", file=sys.stderr)
            return 2
        return reconcile.run(period_options, lambda: database(settings), settings.acd)
    if args.command == "soak":
        configure_logging("warning", "console")
        from cti.soak.run import SoakOptions
        from cti.soak.run import main as soak_main

        return soak_main(SoakOptions(args.minutes, args.speed, args.load, args.seed, args.dir))
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
                asyncio.run(serve(settings, database_url=url, fail_fast=args.fail_fast))
        except Exception as exc:  # a clear one-line reason, not a traceback
            code = getattr(exc, "code", type(exc).__name__)
            print(f"cti: {code}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "bench" and args.bench == "ami":
        from cti.bench.ami import run

        try:
            return run(events=args.events, transcripts=args.transcripts)
        except FileNotFoundError as exc:  # no transcripts here: say where they go
            print(f"cti bench ami: {exc}", file=sys.stderr)
            return 2
    if args.command == "bench" and args.bench == "sim":
        from cti.bench import sim as bench_sim

        return bench_sim.run(args.seconds, args.max_rate)
    if args.command == "bench" and args.bench == "api":
        from cti.bench import api as bench_api

        return bench_api.run(args.calls)
    if args.command == "bench" and args.bench == "store":
        from cti.bench import store as bench_store

        return bench_store.run(args.interactions, args.cases, outbox_records=args.outbox_records)
    if args.command == "bench" and args.bench == "campaign":
        from cti.bench import campaign as bench_campaign

        given = {
            "keep_ready": args.keep_ready,
            "max_lines": args.lines,
            "inbound_wait_limit_s": args.wait_limit,
        }
        policy = bench_campaign.POLICY.model_copy(
            update={k: v for k, v in given.items() if v is not None}
        )
        return bench_campaign.run(None, args.numbers, policy)
    if args.command == "bench" and args.bench == "import":
        from cti.bench import importing as bench_import

        return bench_import.run(args.lines)
    if args.command == "bench" and args.bench == "failover":
        from cti.bench import failover as bench_failover

        opts = bench_failover.Options(
            args.rounds, args.speed, args.load, args.seed, args.dir, args.drain_s
        )
        return bench_failover.main(opts)
    if args.command == "bench" and args.bench == "routing":
        from cti.bench import routing as bench_routing

        try:
            return bench_routing.run(args.workload, args.replications, args.days, args.what_if)
        except ConfigError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
