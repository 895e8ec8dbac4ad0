"""atheris target: the payload decoders (JSON, ETF) and gateway.commands.parse_command: any
bytes give a command or ProtocolError. Run by tests/fuzz/test_fuzz.py."""

import sys

import atheris

with atheris.instrument_imports(include=["gateway", "tests.fuzz"]):
    from tests.fuzz.harness import payload_target

if __name__ == "__main__":
    atheris.Setup(sys.argv, payload_target)
    atheris.Fuzz()
