from core.bus.memory import MemoryBus

__all__ = ["MemoryBus"]
