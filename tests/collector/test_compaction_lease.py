"""One compaction at a time on object storage, where there is no flock: the lease objects
and their conditional writes, against a real S3-compatible server (moto)."""

from __future__ import annotations

import pytest

from collector import compaction_lease as cl
from collector.compaction_lease import CompactionBusy, compaction_lease
from collector.storage import open_storage


@pytest.fixture
def bucket(backend: str) -> str:
    if not backend.startswith("s3://"):
        pytest.skip("the lease is the object-storage coordination (local disks use flock)")
    return backend


@pytest.mark.s3
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_second_run_is_refused_while_the_first_holds_the_lease(bucket: str) -> None:
    st = open_storage(bucket)
    with compaction_lease(st) as lease:
        assert lease.generation == 1
        with pytest.raises(CompactionBusy, match="holds lease 1"):
            with compaction_lease(st):
                pass
        lease.check()
    with compaction_lease(st) as second:          # released: the next run goes on
        assert second.generation == 2


@pytest.mark.s3
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_two_runs_that_read_the_same_generation_cannot_both_take_the_next(
        bucket: str) -> None:
    """The race the conditional write settles: two runs both listed no lease; the first
    creates lease 1, the second's write of lease 1 is refused."""
    first, second = open_storage(bucket), open_storage(bucket)
    second.list_dir = lambda rel: []               # type: ignore[method-assign]  # listed early
    assert cl._take(first, 3600.0).generation == 1
    with pytest.raises(CompactionBusy, match="took lease 1 first"):
        cl._take(second, 3600.0)


@pytest.mark.s3
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_run_taken_for_dead_stops_before_publishing(bucket: str) -> None:
    st = open_storage(bucket)
    with compaction_lease(st, lease_s=3600.0) as old:
        assert cl._put_if_absent(st, "_compaction/lease-000000000002.json", b"{}")  # taken over
        with pytest.raises(CompactionBusy, match="taken over"):
            old.check()
