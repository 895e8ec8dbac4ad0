"""Load generators and scenarios (see bench/README.md); results are in bench/RESULTS.md."""

__all__: list[str] = []
