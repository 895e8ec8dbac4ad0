"""The cluster fixture: built once for the module's tests, torn down (every process stopped,
every namespace deleted) whatever happened. A machine where namespaces cannot be made fails
the tests with the reason: they are never skipped."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.netns import Lab, LabUnavailable, preflight
from tests.cluster.stack import Cluster, build, stop_gateways


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        preflight()
    except LabUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    lab = Lab()
    built: Cluster | None = None
    with tempfile.TemporaryDirectory(prefix="discord-arch-cluster-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # PostgreSQL runs as its own user under it
        try:
            try:
                lab.open()
            except LabUnavailable as e:
                pytest.fail(f"cannot make the cluster's network namespaces: {e}", pytrace=False)
            built = build(lab, workdir)
            yield built
        finally:
            try:
                if built is not None:
                    built.loop.close()
                    stop_gateways(built)
            finally:
                lab.close()
            for log in sorted(workdir.glob("*.log")):  # shown when a test failed
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
