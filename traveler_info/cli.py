"""``tlive tis``: traveler information from the command line."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    tis_app = typer.Typer(help="Traveler information: routes on live traffic.",
                          no_args_is_help=True)
    app.add_typer(tis_app, name="tis")

    @tis_app.command("route")
    def route(
        origin: str = typer.Option(..., "--from", help="origin 'lat,lon'"),
        destination: str = typer.Option(..., "--to", help="destination 'lat,lon'"),
        alternatives: int = typer.Option(2, min=0, max=3),
        lang: str = typer.Option("id", help="id | en"),
        database_url: str = typer.Option(None, help="override TLIVE_DATABASE_URL"),
    ) -> None:
        """Route between two points on the store's inventory and live weights (JSON)."""
        from hub.settings import get_settings
        from traveler_info.service import RouteQueryError, TravelerInfo

        try:
            olat, olon = (float(x) for x in origin.split(","))
            dlat, dlon = (float(x) for x in destination.split(","))
        except ValueError:
            raise typer.BadParameter("points are 'lat,lon', e.g. -6.1783,106.6319") from None
        service = TravelerInfo.from_store(database_url or get_settings().database_url)
        try:
            out = service.route(
                (olon, olat), (dlon, dlat), alternatives=alternatives,
                lang="en" if lang == "en" else "id",
            )
        except RouteQueryError as exc:
            print(json.dumps({"error": exc.code, "message": exc.message}))
            raise typer.Exit(1) from None
        print(json.dumps(out, ensure_ascii=False))
