"""``tlive ingest ...`` commands."""

from __future__ import annotations

import json

import typer

ingest_app = typer.Typer(help="MQTT ingest into the store.", no_args_is_help=True)


@ingest_app.command("run")
def run(
    client_id: str = typer.Option(None, help="MQTT client id (TLIVE_INGEST_CLIENT_ID)"),
    shared_group: str = typer.Option(
        None, help="join $share/<group>/... so several ingest processes split the load"
    ),
    metrics_port: int = typer.Option(None, help="Prometheus /metrics port, 0 disables"),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="ingest processes sharing the load through a shared subscription "
        "(worker k: client id <id>-w<k>, metrics port <port>+k)",
    ),
) -> None:
    """Consume device messages (QoS 1, persistent session) and store them exactly once.

    Stops cleanly on SIGTERM/SIGINT: stops taking messages, flushes, commits,
    acknowledges, exits 0. With --workers N > 1 a supervisor runs N processes
    in the shared-subscription group (default group: ingest) and restarts any
    that dies.
    """
    from hub.logs import setup_logging
    from hub.settings import get_settings
    from ingest.service import IngestService

    overrides = {
        k: v
        for k, v in {
            "ingest_client_id": client_id,
            "ingest_shared_group": shared_group,
            "metrics_port": metrics_port,
        }.items()
        if v is not None
    }
    settings = get_settings().model_copy(update=overrides)
    setup_logging(settings.log_level)
    if workers > 1:
        from ingest.service import run_workers

        raise typer.Exit(run_workers(settings, workers))
    raise typer.Exit(IngestService(settings).run_forever())


@ingest_app.command("schemas")
def schemas(
    out: str = typer.Option(None, help="write the files into this folder instead of printing"),
) -> None:
    """Print (or write) the JSON Schemas of the wire contract's payloads."""
    from pathlib import Path

    from ingest.contract import json_schemas

    docs = json_schemas()
    if out is None:
        print(json.dumps(docs, indent=2, sort_keys=True))
        return
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in docs.items():
        (folder / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
