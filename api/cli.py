"""``tlive api``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    api_app = typer.Typer(help="The HTTP API (traveler information for the app).",
                          no_args_is_help=True)
    app.add_typer(api_app, name="api")

    @api_app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        port: int = typer.Option(8000, min=1, max=65535),
        database_url: str = typer.Option(None, help="override TLIVE_DATABASE_URL"),
        inventory: str = typer.Option(
            None, help="serve this inventory file (no live data) instead of the store's"
        ),
        rate_limit: float = typer.Option(
            5.0, min=0.0, help="requests per second per client on /v1/tis (0: no limit)"
        ),
        burst: int = typer.Option(30, min=1, help="rate-limit burst per client"),
        workers: int = typer.Option(1, min=1, help="processes sharing the port (fork)"),
        log_level: str = typer.Option("warning"),
    ) -> None:
        """Run the API (one process; run several behind a load balancer to scale)."""
        from api.main import create_app
        from api.server import run

        service = None
        if inventory or workers > 1:
            from hub.inventory import load_inventory
            from traveler_info.service import TravelerInfo

            if inventory:
                service = TravelerInfo.from_inventory(load_inventory(inventory))
            else:  # build before forking, so the workers share the graph
                from hub.settings import get_settings

                service = TravelerInfo.from_store(database_url or get_settings().database_url)
            service.refresh(force=True)
        application = create_app(
            tis_service=service,
            database_url=database_url,
            rate_limit_per_s=rate_limit or None,
            rate_limit_burst=burst,
        )
        run(application, host, port, workers=workers, log_level=log_level)
