"""Render the chaos suite's figures (the JSON lines of ANALYTICS_CHAOS_REPORT) as
docs/RELIABILITY.md:

    .venv/bin/python -m tests.chaos.report chaos.jsonl > docs/RELIABILITY.md

The latest line of each scenario is used; every number in the document comes from them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Line = dict[str, Any]
Row = tuple[str, Callable[[Line], Any]]

COMMAND = (
    "ANALYTICS_CHAOS_SCALE=full ANALYTICS_CHAOS_REPORT=chaos.jsonl \\\n"
    "ANALYTICS_TEST_DATABASE_URL=mysql+mysqldb://root@127.0.0.1:3306/analytics_test "
    ".venv/bin/pytest tests/chaos\n"
    ".venv/bin/python -m tests.chaos.report chaos.jsonl > docs/RELIABILITY.md"
)


def listed(values: list[Any]) -> str:
    return ", ".join(str(value) for value in values) or "none"


def equal(left: str, right: str) -> Callable[[Line], str]:
    return lambda line: f"{line[left]} = {line[right]}"


COMMON_HEAD: list[Row] = [
    ("consumer runs (processes started)", lambda line: line["runs"]),
]
COMMON_TAIL: list[Row] = [
    ("clean events generated", lambda line: line["events"]),
    (
        "injected duplicates / stale re-sends / poison",
        lambda line: (
            f"{line['injected_duplicates']} / {line['injected_stale']} / {line['injected_poison']}"
        ),
    ),
    ("messages in the broker", lambda line: line["messages"]),
    ("lost (messages with no stored effect)", lambda line: line["lost"]),
    ("rows of the clean pass missing", lambda line: line["missing_rows"]),
    ("duplicated (rows beyond the clean pass)", lambda line: line["duplicated_rows"]),
    ("dead-lettered = injected poison", equal("dead_lettered", "injected_poison")),
    ("dead letters that are not injected poison", lambda line: line["unexpected_dead_letters"]),
    ("duration", lambda line: f"{line['duration_seconds']} s"),
]

SCENARIOS: dict[str, tuple[str, str, list[Row]]] = {
    "kill": (
        "SIGKILL at random moments (`tests/chaos/test_kill.py`)",
        "The consumer process is killed with SIGKILL after a random number of committed "
        "messages plus a random delay of up to two batch durations (so often inside a "
        "database transaction), and restarted. After every kill, each message the group's "
        "committed offsets newly cover must have its effect in the database.",
        [
            *COMMON_HEAD,
            ("SIGKILLs", lambda line: line["kills"]),
            (
                "messages covered by committed offsets at each kill",
                lambda line: listed(line["committed_at_each_kill"]),
            ),
            (
                "committed offsets checked against the database",
                lambda line: line["offsets_checked_at_kills"],
            ),
            *COMMON_TAIL,
        ],
    ),
    "database": (
        "Database outages (`tests/chaos/test_database.py`)",
        "The consumer reaches MariaDB through a TCP proxy that is cut for longer than "
        "`max.poll.interval.ms` (3 s, session timeout 3 s), frozen (connections stay open "
        "but no byte moves, often mid-statement) for as long, and the server KILLs every "
        "connection to the test database at random moments. The consumer (database "
        "timeouts 2 s) must time out, retry, and never leave its group (no partition "
        "revoked before it is stopped).",
        [
            *COMMON_HEAD,
            ("network cuts", lambda line: line["outages"]),
            ("length of each cut", lambda line: listed([f"{s} s" for s in line["outage_seconds"]])),
            ("frozen connections", lambda line: line.get("freezes", 0)),
            (
                "length of each freeze",
                lambda line: listed([f"{s} s" for s in line.get("freeze_seconds", [])]),
            ),
            ("server-side KILL rounds", lambda line: line["server_kills"]),
            ("connections killed per round", lambda line: listed(line["connections_killed"])),
            ("batch retries (by client error code)", lambda line: retries(line)),
            ("partitions revoked during the run", lambda line: line["revocations"]),
            *COMMON_TAIL,
        ],
    ),
    "broker": (
        "Broker outages (`tests/chaos/test_broker.py`)",
        "The embedded broker is taken off the network (connections refused) and brought "
        "back, for less and for more than the consumer's session timeout. The consumer may "
        "lose its partitions and rejoin; if it exited it would have to exit non-zero and a "
        "restart would have to finish the job.",
        [
            *COMMON_HEAD,
            ("broker outages", lambda line: line["outages"]),
            (
                "length of each outage",
                lambda line: listed([f"{s} s" for s in line["outage_seconds"]]),
            ),
            ("session timeout", lambda line: f"{line['session_timeout_seconds']} s"),
            ("partition revocations", lambda line: line["revocations"]),
            (
                "offset commits that failed (re-read later)",
                lambda line: line["offset_commits_failed"],
            ),
            ("consumer exits (non-zero codes)", lambda line: listed(line["abnormal_exits"])),
            *COMMON_TAIL,
        ],
    ),
    "writers": (
        "Concurrent writers and tied timestamps (`tests/chaos/test_writers.py`)",
        "Two consumer groups apply the same stream to the same tables at once, with batch "
        "sizes that never line up; the second group's consumer is SIGKILLed at random "
        "moments and restarted. Every clean envelope's timestamp is cut to the second, so "
        "most of an entity's events, and most duplicates and stale re-sends, tie with its "
        "newest version. Besides the clean pass over the broker's messages, the tables "
        "must equal a pass over the clean events alone: re-sends must change nothing.",
        [
            *COMMON_HEAD,
            ("consumer groups writing at once", lambda line: line["groups"]),
            ("their batch sizes", lambda line: listed(line["batch_sizes"])),
            ("SIGKILLs of the second group's consumer", lambda line: line["kills"]),
            ("events whose timestamp was cut to the second", lambda line: line["retimed_events"]),
            (
                "tables differing from the clean events alone",
                lambda line: listed(line["tables_differing_from_the_clean_events"]),
            ),
            *COMMON_TAIL,
        ],
    ),
    "sizes": (
        "Oversized statements (`tests/chaos/test_sizes.py`)",
        "Products with 240 variants under 40-character keys (about 37 KB a message), then "
        "new versions of all of them that drop every variant, and a dozen products of "
        "nearly a megabyte, through one consumer at batch size 5,000 (24 partitions, for the "
        "broker's retention). Sent whole, the "
        "variant replacement of such a batch is larger than the server's "
        "`max_allowed_packet`; every statement must stay within it, with no retry.",
        [
            *COMMON_HEAD,
            ("products, each in two versions", lambda line: line["products"]),
            ("variants per product", lambda line: line["variants_per_product"]),
            ("largest message", lambda line: f"{line['message_bytes']:,} bytes"),
            ("bytes in the broker", lambda line: f"{line['broker_bytes']:,}"),
            ("server's max_allowed_packet", lambda line: f"{line['max_allowed_packet']:,}"),
            ("batches (largest)", lambda line: f"{line['batches']} ({line['largest_batch']})"),
            ("batch retries", lambda line: line["retries"]),
            *COMMON_TAIL,
        ],
    ),
    "fuzz": (
        "Fuzzed messages, end to end (`tests/chaos/test_fuzz.py`)",
        "Hypothesis builds messages from the contract's samples with mutations (wrong "
        "types, missing and extra fields, strings beyond column limits and beyond 64 KB, "
        "JSON nested up to 256 levels, NaN and Infinity, out-of-range dates) and broken bytes "
        "(invalid UTF-8, truncation, garbage, non-objects, JSON text nested 300 to 20,000 "
        "levels deep, no value). In process, batches of "
        "them go through `process_batch` on MariaDB and SQLite; end to end, a few hundred "
        "of them among valid traffic go through the broker and one consumer process. Every "
        "message must be applied or dead-lettered; the consumer must neither crash nor stall. "
        "Should it exit, a second run shows whether the service gets past the message that "
        "stopped it; the counts are those left when the last run ended.",
        [
            ("consumer runs", lambda line: line["runs"]),
            ("consumer exits (non-zero codes)", lambda line: listed(line["consumer_exits"])),
            ("what stopped it", lambda line: f"`{line['crash']}`" if line["crash"] else "nothing"),
            ("valid events among them", lambda line: line["events"]),
            ("fuzzed messages", lambda line: line["fuzzed"]),
            ("fuzzed messages by shape", lambda line: shapes(line)),
            ("messages in the broker", lambda line: line["messages"]),
            ("fuzzed messages applied", lambda line: line["applied_fuzzed"]),
            ("fuzzed messages dead-lettered", lambda line: line["dead_lettered_fuzzed"]),
            ("valid messages dead-lettered", lambda line: line["dead_letters_outside_fuzz"]),
            ("neither applied nor dead-lettered", lambda line: line["lost"]),
            ("duration", lambda line: f"{line['duration_seconds']} s"),
        ],
    ),
    **{
        f"fuzz-in-process-{database}": (
            f"Fuzzed messages, in process on {label} (`tests/chaos/test_fuzz.py`)",
            f"Batches of 1-8 fuzzed messages through `process_batch` on {label}, each on "
            "empty tables. Hypothesis stops at the first failing batch and then shrinks it, "
            "so after a failure the counts include the shrinking runs.",
            [
                ("batches allowed (max_examples)", lambda line: line["max_examples"]),
                ("batches run", lambda line: line.get("batches", 0)),
                ("messages", lambda line: line.get("messages", 0)),
                ("applied", lambda line: line.get("applied", 0)),
                ("stale (skipped as older)", lambda line: line.get("stale", 0)),
                ("dead-lettered", lambda line: line.get("dead_lettered", 0)),
                (
                    "failure",
                    lambda line: f"`{line['failure']}`" if line["failure"] else "none",
                ),
                ("duration", lambda line: f"{line['duration_seconds']} s"),
            ],
        )
        for database, label in (("mysql", "MariaDB"), ("sqlite", "SQLite"))
    },
}


def retries(line: Line) -> str:
    errors: dict[str, int] = line["retry_errors"]
    detail = ", ".join(f"{code}: {count}" for code, count in errors.items())
    return f"{line['retries']} ({detail})" if detail else str(line["retries"])


def shapes(line: Line) -> str:
    found: dict[str, int] = line["fuzzed_shapes"]
    return ", ".join(f"{shape} {count}" for shape, count in found.items())


def latest(lines: list[Line]) -> dict[str, Line]:
    """The last figures of each scenario."""
    chosen: dict[str, Line] = {}
    for line in lines:
        if line["scenario"] != "outcome":
            chosen[line["scenario"]] = line
    return chosen


def outcomes(lines: list[Line]) -> list[str]:
    """The last outcome of each chaos test, as table rows."""
    chosen: dict[str, Line] = {}
    for line in lines:
        if line["scenario"] == "outcome":
            chosen[line["test"]] = line
    rows = ["| test | scale | outcome | duration | failure |", "|---|---|---|---|---|"]
    for test, line in chosen.items():
        failure = f"`{line['failure']}`" if line["failure"] else ""
        rows.append(
            f"| `{test.removeprefix('tests/chaos/')}` | {line['scale']} | {line['outcome']} "
            f"| {line['duration_seconds']} s | {failure} |"
        )
    rows.append(
        f"| total | | | {round(sum(line['duration_seconds'] for line in chosen.values()), 1)} s | |"
    )
    return rows


def render(lines: list[Line]) -> str:
    scenarios = latest(lines)
    if not scenarios:
        raise SystemExit("no chaos figures in the report file")
    # The machine as a service scenario saw it (the SQLite lines name SQLite instead).
    machine = scenarios.get("kill", next(iter(scenarios.values())))["machine"]
    scales = sorted({line["scale"] for line in scenarios.values()})
    out = [
        "# Reliability",
        "",
        "What the chaos suite (`tests/chaos/`) did to the service, and what came out. Every "
        "number below was measured by the run described here and rendered from its figures "
        "by `tests/chaos/report.py`; none is written by hand.",
        "",
        "After the kills and outages, the consumer's tables are compared, row by row and "
        "table by table, with the tables one clean, uninterrupted pass over the same broker "
        "messages produces. *Lost* counts messages whose effect is not in the database "
        "(neither their entity's version nor a dead letter); *duplicated* counts rows the run "
        "holds beyond "
        "the clean pass. The dead letters must sit exactly at the coordinates (topic, "
        "partition, offset) of the injected poison messages, recognised by their bytes. A "
        "failed test's figures are those its run had reached.",
        "",
        "## Run",
        "",
        f"- scale: {', '.join(scales)}",
        f"- finished: {max(line['finished_at'] for line in scenarios.values())}",
        f"- machine: {machine['cores']} cores, {machine['system']}, Python {machine['python']}",
        f"- database: {machine.get('database', 'unknown')}",
        f"- broker: the embedded broker (librdkafka {machine.get('librdkafka', '?')} mock "
        "cluster, in the test process), 6 partitions per topic",
        "",
        "To reproduce:",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
        "## Outcomes",
        "",
        *outcomes(lines),
        "",
    ]
    for name, (title, description, rows) in SCENARIOS.items():
        line = scenarios.get(name)
        if line is None:
            continue
        out += [f"## {title}", "", description, "", "| figure | value |", "|---|---|"]
        out += [f"| {label} | {value(line)} |" for label, value in rows]
        out.append("")
    return "\n".join(out)


def main(arguments: list[str]) -> None:
    if len(arguments) != 1:
        raise SystemExit("usage: .venv/bin/python -m tests.chaos.report CHAOS.jsonl")
    text = Path(arguments[0]).read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    sys.stdout.write(render(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
