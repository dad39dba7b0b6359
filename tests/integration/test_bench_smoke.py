"""The benchmark keeps working: bench/run --quick (N=100, policies in a netns of this host) writes its report.

Not a performance test: numbers are not asserted, only that every method ran and the report holds them.
"""

import os
import re
import subprocess

import pytest

from ansible_run import ROOT


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
def test_bench_quick_run_writes_a_report_with_every_method(tmp_path):
    proc = subprocess.run([str(ROOT / "bench" / "run"), "--quick", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (tmp_path / "performance.md").read_text()
    core, layers = [[c.strip() for c in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("| 100 |")]
    assert len(core) == 11 and "-" not in core[1:8], core
    assert len(layers) == 9 and "-" not in layers, "module and ansible-playbook runs of the same list: %s" % layers
    assert (tmp_path / "performance.png").stat().st_size > 10000
    assert "Peak RSS of a process" in report and "Peak RSS of the module process" in report
    assert re.search(r"full mesh of \d+ hosts, each of its [1-9]\d* directions derived once .*: [\d.]+ s", report)
    assert re.search(r"for that mesh: the SPI scan, once per play .* took [\d.]+ s; each host.s share", report)
