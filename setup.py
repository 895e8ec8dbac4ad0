"""The build's one part pyproject.toml cannot say: the optional C extension gateway.speedups.

Everything else (name, version, dependencies, packages) is in pyproject.toml. ``optional=True``:
when the C compiler is missing or fails, setuptools warns and installs the rest, and the gateway
uses gateway.frames, the same function in pure Python (gateway.listener chooses at import).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gateway.speedups", ["gateway/speedups.c"], optional=True)])
