"""The command layer (SPEC 10): parse options, call one function, map the result to an exit code.

Exit codes: 0 done, 1 a check or validation failed, 2 bad usage or configuration,
3 an account or service could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sftp_watcher import __version__
from sftp_watcher.config import Settings, load_settings
from sftp_watcher.errors import ConfigError, SourceError, StateError, UploadHung, WatcherError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
# A sweep process ended itself: an upload hung past upload_deadline_seconds (SPEC 3).
EXIT_HUNG = UploadHung.exit_code


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the command name; the sub-parser must not reset a value
    # given before the command, hence SUPPRESS there.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default, help="configuration file")
    parser.add_argument(
        "--log-format", choices=["json", "console"], default=default, help="log line format"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sftp-watcher",
        description="Turns call-list files dropped on SFTP into Phonon outbound campaigns.",
    )
    parser.add_argument("--version", action="version", version=f"sftp-watcher {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common(sub, top=False)
        return sub

    run = command("run", "the service: schedule polls, watch local folders")
    run.add_argument(
        "--embedded",
        action="store_true",
        help="run on the embedded defaults (local folders under var/demo, dry run, .eml files)",
    )
    poll = command("poll-once", "one pass over every (or one) account, then exit")
    poll.add_argument("--customer", metavar="ID")

    setup = command("setup-test", "onboarding check of one customer")
    setup.add_argument("--customer", metavar="ID", required=True)
    setup.add_argument("--create-folders", action="store_true")
    setup.add_argument("--send-test-email", action="store_true")
    setup.add_argument("--json", action="store_true")

    validate = command("validate", "check a call-list file offline, print the report")
    validate.add_argument("file", type=Path, metavar="FILE")
    validate.add_argument("--customer", metavar="ID")
    validate.add_argument("--json", action="store_true")

    history = command("history", "recent uploads and their outcome")
    history.add_argument("--customer", metavar="ID")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--json", action="store_true")

    command("hash-password", "an upload-page password hash for the configuration")
    template = command("template", "a flow's call-list template (header only, calls nobody)")
    template.add_argument("--customer", metavar="ID", required=True)
    template.add_argument("--flow", metavar="FLOW", required=True)

    demo = command("demo", "the whole pipeline on embedded defaults, no setup")
    demo.add_argument("--dir", type=Path, default=Path("var/demo"), help="where the demo lives")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = _HANDLERS[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"sftp-watcher: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (SourceError, StateError) as exc:
        print(f"sftp-watcher: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except UploadHung as exc:
        print(f"sftp-watcher: {exc}", file=sys.stderr)
        return EXIT_HUNG
    except KeyboardInterrupt:
        return 130


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    return _prepare(settings, args)


def _prepare(settings: Settings, args: argparse.Namespace) -> Settings:
    from sftp_watcher.observability.logs import configure_logging, register_settings_secrets

    configure_logging(args.log_format or settings.log_format, settings.log_level)
    register_settings_secrets(settings)
    return settings


def _cmd_validate(args: argparse.Namespace) -> int:
    from sftp_watcher.calllist import Rules, judge_path, render_text
    from sftp_watcher.calllist.report import Outcome
    from sftp_watcher.calllist.text import escape_json_text

    if args.customer:
        settings = _settings(args)
        rules = Rules.for_customer(settings, settings.customer(args.customer))
    else:
        rules = Rules.permissive()
    if not args.file.is_file():
        print(f"sftp-watcher: {args.file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    report = judge_path(args.file, rules, datetime.now(UTC))
    if args.json:
        print(escape_json_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2)))
    else:
        print(render_text(report))
    return EXIT_FAILED if report.outcome is Outcome.REJECTED else EXIT_OK


def _cmd_template(args: argparse.Namespace) -> int:
    from sftp_watcher.calllist.template import template_csv

    customer = _settings(args).customer(args.customer)
    flow = customer.flow(args.flow)
    if flow is None:
        known = ", ".join(f.id for f in customer.flows)
        print(
            f"sftp-watcher: customer {customer.id} has no flow {args.flow!r} (flows: {known})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.stdout.flush()
    sys.stdout.buffer.write(template_csv(flow))
    sys.stdout.buffer.flush()
    return EXIT_OK


def _cmd_poll_once(args: argparse.Namespace) -> int:
    from sftp_watcher.service import Service

    settings = _settings(args)
    _init_sentry(settings)
    if settings.processes > 1:
        from sftp_watcher.processes import SweepProcesses

        with SweepProcesses(settings, log_format=args.log_format) as processes:
            result = processes.poll_once(args.customer)
    else:
        with Service(settings) as service:
            result = service.poll_once(args.customer)
    for sweep in result.unreachable:
        print(f"sftp-watcher: {sweep.customer}: {sweep.error}", file=sys.stderr)
    return EXIT_UNREACHABLE if result.unreachable else EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from sftp_watcher.signals import install_signal_handlers

    # First of all: SIGTERM or SIGINT at any moment of start-up (configuration, secrets,
    # migrations, scheduling) is a clean stop with exit 0, as it is once running.
    stop = threading.Event()
    install_signal_handlers(stop)
    from sftp_watcher.scheduler import run_service
    from sftp_watcher.service import Service
    from sftp_watcher.web.server import serving

    if args.embedded:
        from sftp_watcher.demo import announce_web_user, embedded_settings, prepare_tree

        settings = _prepare(embedded_settings(Path("var/demo"), web_port=8080), args)
        prepare_tree(Path("var/demo"))
        announce_web_user(settings)
    else:
        settings = _settings(args)
    if stop.is_set():
        return EXIT_OK
    _init_sentry(settings)
    try:
        # The upload page, when configured, is served by this (the parent) process.
        with serving(settings):
            if settings.processes > 1:
                from sftp_watcher.processes import run_processes

                run_processes(settings, log_format=args.log_format, stop=stop)
            else:
                with Service(settings, stop=stop) as service:
                    if not stop.is_set():
                        run_service(service)
    finally:
        from sftp_watcher.observability.sentry import close_sentry

        close_sentry()
    return EXIT_OK


def _cmd_setup_test(args: argparse.Namespace) -> int:
    from sftp_watcher.onboarding import run_setup_test

    settings = _settings(args)
    report = run_setup_test(
        settings,
        args.customer,
        create_folders=args.create_folders,
        send_test_email=args.send_test_email,
    )
    print(json.dumps(report.to_json(), indent=2) if args.json else report.render_text())
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_history(args: argparse.Namespace) -> int:
    from sftp_watcher.calllist.text import escape_json_text
    from sftp_watcher.history import history_rows, render_history
    from sftp_watcher.state.store import Store

    settings = _settings(args)
    store = Store.open(settings.state_url)
    try:
        rows = history_rows(store, customer_id=args.customer, limit=args.limit)
    finally:
        store.close()
    dumped = escape_json_text(json.dumps(rows, indent=2, ensure_ascii=False))
    print(dumped if args.json else render_history(rows))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from sftp_watcher.demo import run_demo
    from sftp_watcher.observability.logs import configure_logging

    configure_logging("json" if args.log_format == "json" else "console")
    print(run_demo(args.dir))
    return EXIT_OK


def _cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from sftp_watcher.web.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("sftp-watcher: the two passwords differ", file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("sftp-watcher: the password is empty", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    return EXIT_OK


def _init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return  # sentry_sdk not even imported: a cold poll-once's start-up is shorter
    from sftp_watcher.observability.sentry import init_sentry

    init_sentry(settings.sentry_dsn, release=__version__)


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _cmd_validate,
    "poll-once": _cmd_poll_once,
    "run": _cmd_run,
    "setup-test": _cmd_setup_test,
    "history": _cmd_history,
    "demo": _cmd_demo,
    "hash-password": _cmd_hash_password,
    "template": _cmd_template,
}

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

__all__ = ["WatcherError", "main"]
