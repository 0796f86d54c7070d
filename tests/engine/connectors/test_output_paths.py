"""Where a step may write its `output` file on the platform: the admin's folders, and the folders the
platform itself registered (a worker's scratch folder), never anywhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors.sandbox import check_output_path, trust_output_dir

PLATFORM = {"OMB_NATS_URL": "nats://127.0.0.1:4222"}


def test_a_platform_folder_is_allowed_and_others_stay_refused(tmp_path: Path) -> None:
    scratch, elsewhere = tmp_path / "omb-worker-x", tmp_path / "elsewhere"
    scratch.mkdir()
    elsewhere.mkdir()
    with pytest.raises(Invalid, match="outside the folders"):
        check_output_path(str(scratch / "d.csv"), env=PLATFORM)
    trust_output_dir(scratch)
    assert check_output_path(str(scratch / "d.csv"), env=PLATFORM) == (scratch / "d.csv").resolve()
    with pytest.raises(Invalid, match=r"parameters\.output"):
        check_output_path(str(elsewhere / "d.csv"), env=PLATFORM)
    with pytest.raises(Invalid):  # no way out of the trusted folder by `..`
        check_output_path(str(scratch / ".." / "elsewhere" / "d.csv"), env=PLATFORM)


def test_the_admins_folders_allow_their_files(tmp_path: Path) -> None:
    env = {**PLATFORM, "OMB_FILE_ROOTS": str(tmp_path)}
    assert check_output_path(str(tmp_path / "a" / "d.parquet"), env=env) == (tmp_path / "a" / "d.parquet").resolve()
