"""The unit tier runs without root: the modules' run lock goes to a temporary directory."""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_system


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(ipsec_system, "LOCK_DIR", str(tmp_path_factory.mktemp("lock")))
