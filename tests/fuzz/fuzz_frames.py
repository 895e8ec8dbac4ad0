"""atheris target: gateway.listener.Connection.on_ws_frame (reassembly, UTF-8, RSV bits,
control frames, close codes) on fake picows frames. Run by tests/fuzz/test_fuzz.py."""

import sys

import atheris

with atheris.instrument_imports(include=["gateway", "tests.fuzz"]):
    from tests.fuzz.harness import frames_target

if __name__ == "__main__":
    atheris.Setup(sys.argv, frames_target)
    atheris.Fuzz()
