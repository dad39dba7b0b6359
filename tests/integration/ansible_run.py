"""Run collection modules for real, through ansible-playbook, and read back their results.

Every call writes a one-task playbook (module options written literally into it, as a
user would) plus a task that saves the registered result as JSON per host. The
full ansible-playbook output is kept so tests can prove what it does *not* contain
(keys). Used against localhost (network namespaces of this host) and against lab guests.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

from browser import drawn_states

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Run:
    """The outcome of one ansible-playbook run: per-host results, the whole output, the exit code."""

    def __init__(self, results, output, rc):
        self.results = results
        self.output = output
        self.rc = rc

    def __getitem__(self, host):
        return self.results[host]

    @property
    def only(self):
        """The result when one host ran the task."""
        (result,) = self.results.values()
        return result


def collections_path():
    """The directory holding ansible_collections/xfrm/ipsec for this checkout (see tests/conftest.py)."""
    if ROOT.parts[-3:] == ("ansible_collections", "xfrm", "ipsec"):
        return ROOT.parents[2]
    return ROOT / "tests" / "output" / "collections"


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "PATH": "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", "")),
    })
    return env


def run_playbook(playbook, inventory, extra=(), timeout=900):
    """ansible-playbook from this venv with the checkout as the collection; returns the CompletedProcess."""
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)] + list(extra)
    return subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)


def run_module(module, args, hosts="localhost", inventory=None, check=False, diff=True, no_log=False, verbosity=0):
    """Run xfrm.ipsec.<module> with args on hosts; return a Run. Raises only on harness errors."""
    with tempfile.TemporaryDirectory(prefix="xfrm-ipsec-run-") as tmp:
        out_dir = pathlib.Path(tmp)
        task = {"name": "module under test", "xfrm.ipsec." + module: args, "register": "result",
                "ignore_errors": True, "check_mode": check, "diff": diff}
        if no_log:
            task["no_log"] = True
        save = {"name": "save the result",
                "ansible.builtin.copy": {"content": "{{ result | to_json }}",
                                         "dest": str(out_dir / "{{ inventory_hostname }}.json"), "mode": "0600"},
                "delegate_to": "localhost"}
        playbook = out_dir / "play.yml"
        playbook.write_text(json.dumps([{"hosts": hosts, "gather_facts": False, "tasks": [task, save]}]))
        if inventory is None:
            inventory = out_dir / "localhost.ini"
            inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        proc = run_playbook(playbook, inventory, ["-" + "v" * verbosity] if verbosity else [])
        results = {p.stem: json.loads(p.read_text()) for p in out_dir.glob("*.json")}
        if not results:
            raise AssertionError("ansible-playbook produced no result (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
        return Run(results, proc.stdout + proc.stderr, proc.returncode)


PLAYBOOKS = ROOT / "playbooks"


class Site:
    """playbooks/site_vpn.yml and flush.yml against the lab, with the master secret in a 0600 vars file."""

    def __init__(self, inventory, master, workdir):
        self.inventory = inventory
        self.master = master
        self.vars = pathlib.Path(workdir) / "secret.yml"
        self.vars.touch(mode=0o600)
        self.vars.write_text(json.dumps({"ipsec_master_secret": master}))

    def run(self, playbook="site_vpn.yml", *extra, inventory=None, as_json=True, verbosity=0, env=None):
        """ansible-playbook; with as_json the ansible.posix.json callback's document is returned as .doc. env: more
        environment variables (ANSIBLE_DEBUG...)."""
        env = dict(ansible_env(), **(env or {}))
        if as_json:
            env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory or self.inventory),
               str(PLAYBOOKS / playbook), "-e", "@%s" % self.vars] + list(extra)
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        proc.doc = json.loads(proc.stdout[proc.stdout.index("{"):]) if as_json and "{" in proc.stdout else None
        return proc

    def check_vpn(self, report_dir, *extra, inventory=None):
        """check_vpn.yml with its report in report_dir: (rc, the report stage's result, {pair: the state its edge is
        drawn in, as chromium shows the page})."""
        run = self.run("check_vpn.yml", "-e", "ipsec_check_report_dir=%s" % report_dir, *extra, inventory=inventory)
        assert run.doc is not None, run.stdout[-3000:] + run.stderr[-3000:]
        result = check_report(run.doc)
        return run.returncode, result, drawn_states(result["picture"]["html"], result["report"]["pairs"])

    def popen(self, playbook="site_vpn.yml", *extra):
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.inventory),
               str(PLAYBOOKS / playbook), "-e", "@%s" % self.vars] + list(extra)
        # a session of its own: a test may kill the whole controller (os.killpg), as a crash or Ctrl-C would
        return subprocess.Popen(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)


def task_results(doc):
    """{host: [(task name, changed, actions)]} from the json callback's document, in order."""
    out = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("skipped"):
                    continue
                out.setdefault(host, []).append((task["task"]["name"], bool(result.get("changed")), result.get("actions")))
    return out


def failures(run):
    """What failed in an ansible-playbook run (the json callback's document): [(host, task, msg)], else its output."""
    if run.doc is None:
        return run.stdout[-3000:] + run.stderr[-3000:]
    return [(host, task["task"]["name"], result.get("msg")) for play in run.doc["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if result.get("failed") and not result.get("ignore_errors")]


def changed_hosts(doc):
    return {host: stats["changed"] for host, stats in doc["stats"].items()}


def check_report(doc):
    """The report stage's result of a check_vpn.yml run (the json callback's document): report, lines, down, ..."""
    (task,) = [t for play in doc["plays"] for t in play["tasks"] if t["task"]["name"].startswith("Every pair's verdict")]
    (result,) = task["hosts"].values()
    return result
