"""Molecule scenarios (molecule/*/molecule.yml), each run as `molecule test -s NAME` on the lab.

Molecule's own create/destroy boot and stop the lab, so the lab fixture first stops whatever
topology the previous tests left running. The exit code is the verdict (molecule's summary
may say "Successful" after a failed idempotence step; the exit code does not).
"""

import pathlib
import subprocess
import sys

import pytest

from ansible_run import ROOT, ansible_env

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


@pytest.mark.lab(None)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(lab, scenario):
    env = ansible_env()
    env["MOLECULE_GLOB"] = "molecule/*/molecule.yml"
    env["PY_COLORS"] = "0"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    molecule = pathlib.Path(sys.executable).parent / "molecule"
    proc = subprocess.run([str(molecule), "test", "-s", scenario], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "idempotence" in proc.stdout + proc.stderr
