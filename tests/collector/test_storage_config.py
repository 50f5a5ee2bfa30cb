"""``[storage]`` settings: the TOML section, EDGEDRIFT_STORAGE_* overrides, and the dataset
location every component then uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import storage
from edgedrift.config import ConfigFileError, load_toml


def test_the_storage_section_and_its_environment_overrides(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[storage]\nuri = "s3://bucket/data"\nendpoint_url = "http://minio:9000"\n')
    monkeypatch.setenv("EDGEDRIFT_STORAGE_REGION", "eu-west-1")
    try:
        got = storage.configure_from(load_toml(cfg))
        assert (got.uri, got.endpoint_url, got.region) == (
            "s3://bucket/data", "http://minio:9000", "eu-west-1")
        assert storage.dataset_location("/data/telemetry") == "s3://bucket/data"
        st = storage.open_storage(storage.dataset_location("/x"))
        assert st.remote and (st.bucket, st.prefix) == ("bucket", "data")
    finally:
        storage.configure(None)
    assert storage.dataset_location("/data/telemetry") == "/data/telemetry"


@pytest.mark.parametrize("toml, field", [
    ('[storage]\nendpoint_url = "minio:9000"\n', "endpoint_url"),
    ('[storage]\nuri = "gs://bucket"\n', "uri"),
    ('[storage]\nbucket = "b"\n', "storage.bucket"),
])
def test_a_bad_storage_setting_is_refused_with_its_name(tmp_path: Path, toml: str,
                                                        field: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigFileError, match=field):
        storage.configure_from(load_toml(cfg))
    storage.configure(None)
