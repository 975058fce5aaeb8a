"""``python -m hub`` is ``tlive``."""

from hub.cli import main

main()
