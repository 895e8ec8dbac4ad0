"""Discord Arch core: domain, permissions, stores and bus. Imports neither gateway nor api."""

__all__: list[str] = []
