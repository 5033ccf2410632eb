"""The `analytics` command line: one Typer app, wired here from one module per area.

- `service`: `consume`, the service itself;
- `schema`: `migrate` (upgrade, check, review, sql);
- `deadletters`: `dlq` (list, replay);
- `history`: `rebuild` and `replay`, which apply history again;
- `tools`: `load`, `report`, `demo`, `broker`, `simulate`, `bench`, which import what they
  run only when they run.

Every command runs inside `boundary.Boundary`: a known mistake is one line and an exit code.
"""

from __future__ import annotations

import typer

from analytics.cli import deadletters, history, schema, service, tools
from analytics.cli.boundary import Boundary, debug_option

app = typer.Typer(
    cls=Boundary,
    help="Kafka domain events to a MySQL analytics read model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.callback()(debug_option)

app.command("consume")(service.consume_command)
app.add_typer(schema.app, name="migrate")
app.add_typer(deadletters.app, name="dlq")
app.command("rebuild")(history.rebuild_command)
app.command("replay")(history.replay_command)
app.command("load")(tools.load_command)
app.command("report")(tools.report_command)
app.command("demo")(tools.demo_command)
app.command("broker")(tools.broker_command)
app.command("simulate")(tools.simulate_command)
app.command("bench")(tools.bench_command)


def main() -> None:
    app()
