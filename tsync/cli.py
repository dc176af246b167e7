"""The `tsync` command line: a thin Click layer over the engine.

Each command loads the settings, calls one engine method and prints the
result. All error handling lives in `main()`, which turns tsync's exceptions
into one line on stderr and an exit code: 0 when every event is fine, 1 when
some failed, 2 for a configuration, input or authentication error.
"""

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tsync import __version__
from tsync.config import Settings, read_environment, settings_from_values
from tsync.errors import AuthError, ConfigError, InputError, TsyncError
from tsync.logs import configure_logging, new_run_id

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
DEFAULT_SANDBOX_DIR = ".tsync-sandbox"
MAX_HOURS_BACK = 24 * 366  # the engine's limit too


class CliState:
    """Shared state of one command: settings, the ledger, the notifier, and the sandbox when requested.

    Everything is created on first use, so `--help` and `preview` need no
    accounts, and closed when the command ends.
    """

    def __init__(self, *, env_file=None, use_sandbox=False, sandbox_dir=None, sandbox_events=None):
        self.env_file = env_file
        self.use_sandbox = use_sandbox
        self._sandbox_dir = sandbox_dir
        self.sandbox_events = sandbox_events
        self.sandbox = None
        self._settings: Settings | None = None
        self._store = None

    @property
    def sandbox_dir(self) -> Path:
        """The sandbox folder: --sandbox-dir, else TSYNC_SANDBOX_DIR from the environment or .env."""
        if self._sandbox_dir is None:
            self._sandbox_dir = read_environment(self.env_file).get("TSYNC_SANDBOX_DIR") or DEFAULT_SANDBOX_DIR
        return Path(self._sandbox_dir)

    def values(self) -> dict[str, str]:
        """Return the raw settings: the environment over `.env`, with the sandbox's connection values on top."""
        values = read_environment(self.env_file)
        if self.use_sandbox:
            values.update(self.start_sandbox().settings_values())
            if values.get("SMTP_HOST"):
                # Simulated events must not reach the people on NOTIFY_TO.
                logger.info("e-mail is off in the sandbox; SMTP_HOST is ignored")
                values["SMTP_HOST"] = ""
        return values

    def settings(self, *, offline: bool = False) -> Settings:
        if self._settings is None:
            self._settings = settings_from_values(self.values(), offline=offline)
        return self._settings

    def start_sandbox(self):
        if self.sandbox is None:
            from tsync.sandbox import Sandbox, load_events_file

            events = load_events_file(self.sandbox_events) if self.sandbox_events else None
            self.sandbox = Sandbox(self.sandbox_dir, events=events)
            self.sandbox.start()
            logger.info("sandbox running in %s: Tripleseat %s, Revel %s", self.sandbox_dir, self.sandbox.tripleseat_url, self.sandbox.revel_url)
        return self.sandbox

    def store(self):
        if self._store is None:
            from tsync.store import Store

            self._store = Store(self.settings().db_path)
        return self._store

    def notifier(self):
        from tsync.notify import Notifier

        settings = self.settings()
        return Notifier(settings.smtp, settings.notify_policy)

    def build_engine(self, notifier=None):
        from tsync.engine import build_engine

        return build_engine(self.settings(), store=self.store(), notifier=notifier)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        if self.sandbox is not None:
            self.sandbox.stop()


def output_options(function):
    function = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(function)
    return function


def sync_options(function):
    function = click.option("--dry-run", is_flag=True, help="Plan and show the order; create nothing.")(function)
    return output_options(function)


class TsyncGroup(click.Group):
    """A Click group whose commands' errors become one line on stderr and an exit code."""

    def invoke(self, context):
        try:
            return super().invoke(context)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (ConfigError, AuthError, InputError) as error:
            click.echo(f"tsync: error: {error}", err=True)
            raise click.exceptions.Exit(EXIT_CONFIG) from None
        except TsyncError as error:
            click.echo(f"tsync: error: {error}", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None
        except KeyboardInterrupt:
            click.echo("tsync: interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except Exception as error:  # noqa: BLE001 - last resort so no traceback reaches an operator
            if context.meta.get("verbose"):
                raise
            click.echo(f"tsync: unexpected error: {type(error).__name__}: {error} (run with -v for the traceback)", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None


@click.group(cls=TsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sandbox", "use_sandbox", is_flag=True,
              help="Run against the built-in simulated Tripleseat and Revel (no account needed).")
@click.option("--sandbox-dir", type=click.Path(file_okay=False),
              help=f"Folder for the sandbox's ledger and orders [default: TSYNC_SANDBOX_DIR or {DEFAULT_SANDBOX_DIR}].")
@click.option("--sandbox-events", type=click.Path(dir_okay=False),
              help="Replay events from a JSON file (as GET /v1/events/{id}.json returns) in the sandbox.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read settings from this file instead of ./.env.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail, and show tracebacks of unexpected errors.")
@click.version_option(__version__, prog_name="tsync")
@click.pass_context
def cli(context, use_sandbox, sandbox_dir, sandbox_events, env_file, verbose):
    """Keep Revel POS orders in step with Tripleseat events.

    \b
    First run, with no account:
        tsync --sandbox recent --hours-back 48
    """
    configure_logging(verbose)
    context.meta["verbose"] = verbose
    state = CliState(env_file=env_file, use_sandbox=use_sandbox, sandbox_dir=sandbox_dir, sandbox_events=sandbox_events)
    context.obj = state
    context.call_on_close(state.close)


@cli.command()
@click.argument("event_id", type=click.IntRange(min=1))
@sync_options
@click.pass_obj
def event(state: CliState, event_id, dry_run, as_json):
    """Sync one Tripleseat event now.

    \b
    Example:
        tsync event 48213377
        tsync event 48213377 --dry-run
    """
    notifier = state.notifier()
    engine = state.build_engine(notifier=notifier)
    result = engine.run_event(event_id, dry_run=dry_run)
    if not dry_run:
        notifier.run_finished(result, context=f"event {event_id}")
    _print_result(result, as_json)
    _exit_for(result)


@cli.command()
@click.option("--hours-back", type=click.FloatRange(min=0, min_open=True, max=MAX_HOURS_BACK), default=48, show_default=True,
              help="Reconcile events updated in this many past hours.")
@sync_options
@click.pass_obj
def recent(state: CliState, hours_back, dry_run, as_json):
    """Reconcile every event updated in the last N hours.

    Run it from cron every 45 minutes as the safety net for missed webhooks.

    \b
    Example:
        tsync recent --hours-back 48 --json
    """
    notifier = state.notifier()
    engine = state.build_engine(notifier=notifier)
    console = Console(stderr=True)
    run_id = new_run_id()
    try:
        if as_json or not console.is_terminal:
            result = engine.run_recent(hours_back, dry_run=dry_run, run_id=run_id)
        else:
            with Progress(TextColumn("Syncing events"), BarColumn(), MofNCompleteColumn(), console=console, transient=True) as bar:
                task = bar.add_task("sync", total=None)
                result = engine.run_recent(hours_back, dry_run=dry_run, run_id=run_id,
                                           progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (AuthError, ConfigError) as error:
        # A scheduled run that stops here syncs nothing until a person acts, so send an alert.
        notifier.alert("recent run stopped", f"tsync recent --hours-back {hours_back:g} stopped: {error}\n",
                       correlation_id=run_id)
        raise
    if not dry_run:
        notifier.run_finished(result, context=f"recent --hours-back {hours_back:g}")
    _print_result(result, as_json)
    _exit_for(result)


@cli.command()
@click.argument("event_file", type=click.Path(dir_okay=False))
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False), help="Mapping CSV [default: TSYNC_MAPPING].")
@output_options
@click.pass_obj
def preview(state: CliState, event_file, mapping_file, as_json):
    """Print the Revel order planned for an event saved as JSON, beside Tripleseat's totals.

    The file contains what GET /v1/events/{id}.json?show_financial=true returns.
    Nothing is sent anywhere.

    \b
    Example:
        tsync preview event-48213377.json --json
    """
    from tsync.mapping import load_mapping
    from tsync.planning import plan_order
    from tsync.sandbox import load_events_file
    from tsync.times import utc_now

    events = load_events_file(event_file)
    if len(events) != 1:
        raise InputError(f"{event_file} contains {len(events)} events: preview takes a file with one event")
    raw_event = events[0]

    settings = state.settings(offline=True)
    venue = settings.venue_for(raw_event.get("location_id") or (raw_event.get("location") or {}).get("id"))
    if venue is None:
        raise InputError(f"event {raw_event.get('id')} is at Tripleseat location {raw_event.get('location_id')}, which is not configured: add it to TSYNC_LOCATIONS")
    mapping = load_mapping(mapping_file or settings.mapping_path)
    plan = plan_order(raw_event, settings=settings, venue=venue, mapping=mapping, now=utc_now())

    if raw_event.get("status") and str(raw_event["status"]).upper() not in settings.eligible_statuses:
        logger.warning("event %s is %s: a sync would skip it (TSYNC_ELIGIBLE_STATUSES)", raw_event.get("id"), raw_event["status"])
    if as_json:
        _echo_json(plan.to_dict())
        return
    from tsync.render import print_plan

    print_plan(_console(), plan)


@cli.command()
@click.option("--establishment", type=int, help="List this establishment's products [default: every configured one].")
@output_options
@click.pass_obj
def products(state: CliState, establishment, as_json):
    """List Revel products (id, name, price, barcode, active) to build the mapping file.

    \b
    Example:
        tsync products --json > products.json
    """
    settings = state.settings()
    from tsync.revel import RevelClient

    client = RevelClient(settings)
    establishments = [establishment] if establishment else sorted({venue.establishment_id for venue in settings.venues.values()})
    found: dict = {}
    for establishment_id in establishments:
        for product in client.list_products(establishment_id):
            found.setdefault(product.get("id"), product)
    if not found:
        logger.warning("Revel listed no products for establishment %s", ", ".join(map(str, establishments)))

    if as_json:
        _echo_json(list(found.values()))
        return
    from tsync.render import print_products

    print_products(_console(), list(found.values()))


@cli.group()
def mapping():
    """Check the product mapping against recent events."""


@mapping.command("check")
@click.option("--hours-back", type=click.FloatRange(min=0, min_open=True, max=MAX_HOURS_BACK), default=48, show_default=True,
              help="Read events updated in this many past hours.")
@output_options
@click.pass_obj
def mapping_check(state: CliState, hours_back, as_json):
    """List every line item in recent events that the mapping does not cover, with counts.

    Also lists mapping rows whose Revel product is missing or inactive. Exits 1
    when anything is listed, so a scheduled check can alert.

    \b
    Example:
        tsync mapping check --hours-back 720
    """
    engine = state.build_engine()
    items, events_read = engine.unmapped_items(hours_back)
    product_problems = engine.mapping_product_problems()
    if as_json:
        rows = [{"item": item.description, "count": item.count, "event_ids": item.event_ids} for item in items]
        _echo_json({"events_read": events_read, "unmapped": rows, "unknown_products": product_problems})
    else:
        from tsync.render import print_product_problems, print_unmapped

        console = _console()
        print_unmapped(console, items, events_read)
        print_product_problems(console, product_problems)
    if items or product_problems:
        raise click.exceptions.Exit(EXIT_FAILED)


@cli.group()
def sandbox():
    """Manage the built-in sandbox (simulated Tripleseat and Revel)."""


@sandbox.command("reset")
@click.pass_obj
def sandbox_reset(state: CliState):
    """Start the sandbox over: forget its orders, ledger and mapping edits.

    \b
    Example:
        tsync sandbox reset
    """
    from tsync.sandbox import Sandbox

    Sandbox.reset(state.sandbox_dir)
    click.echo(f"Sandbox in {state.sandbox_dir} reset; the next --sandbox run starts from the seed data.")


def _register_webhook_commands() -> None:
    # Imported here because tsync.cli_webhook imports CliState from this module.
    from tsync.cli_webhook import deliver, serve_webhook

    cli.add_command(serve_webhook)
    sandbox.add_command(deliver)


def _echo_json(document) -> None:
    """Print JSON: indented on a terminal, one line otherwise (log files then hold one run a line)."""
    if sys.stdout.isatty():
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        click.echo(json.dumps(document, default=str))


def _console() -> Console:
    """Return a console for stdout; off a terminal it is wide enough that cron logs keep whole reasons."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=200)


def _print_result(result, as_json: bool) -> None:
    if as_json:
        document = result.to_dict()
        if result.dry_run:
            for row, event in zip(document["events"], result.events):
                if event.plan is not None:
                    row["plan"] = event.plan.to_dict()
        _echo_json(document)
        return
    from tsync.render import print_run

    print_run(_console(), result)


def _exit_for(result) -> None:
    if not result.success:
        raise click.exceptions.Exit(EXIT_FAILED)


def main(argv=None) -> None:
    """Run the CLI as the `tsync` console script."""
    cli.main(args=argv, prog_name="tsync")


_register_webhook_commands()
