"""ipsec_sa against this host's kernel, which has XFRM netlink but no esp4/ah4.

The kernel answers every SA add with EPROTONOSUPPORT here: these tests prove the module
reaches the real netlink API (dump, plan, request, error), turns that answer into a
sentence that says what is missing, leaves nothing behind, and keeps keys out of every
byte of output even at -vvv. SAs that really exist and carry traffic are the lab tier's.
"""

import subprocess

from ansible_run import run_module

ENC_KEY = "0x" + "5e" * 32
AUTH_KEY = "0x" + "a7" * 32
ASCII_KEY = "hogehoge-secret-0123456789abcdef"  # 32 ASCII bytes, as setkey's quoted form
SAS = [
    {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": "0x1000", "enc": {"algorithm": "aes-cbc", "key": ENC_KEY},
     "auth": {"algorithm": "hmac-sha256", "key": AUTH_KEY}},
    {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": 4097, "enc": {"algorithm": "cbc(aes)", "key": ASCII_KEY},
     "auth": {"algorithm": "hmac(sha256)", "key": AUTH_KEY}},
]


def ip_states(ns):
    return subprocess.run(["ip", "-n", ns, "xfrm", "state"], capture_output=True, text=True, check=True).stdout


def assert_no_key_in(text):
    for secret in (ENC_KEY[2:], AUTH_KEY[2:], ASCII_KEY, ENC_KEY, AUTH_KEY):
        assert secret not in text
        assert secret.upper() not in text


def test_sa_check_mode_reads_the_real_sad_and_predicts_adds(netns):
    result = run_module("ipsec_sa", {"netns": netns, "sas": SAS}, check=True)
    assert result.only["changed"] is True
    assert [a["action"] for a in result.only["actions"]] == ["add", "add"]
    assert result.only["actions"][0]["entry"] == "esp spi 0x00001000 dst 192.0.2.2"
    assert_no_key_in(result.output)
    assert "sha256:" in str(result.only["diff"]["after"]), "the diff shows key fingerprints, not keys"


def test_sa_add_on_a_kernel_without_esp4_fails_saying_so_and_leaves_nothing(netns):
    result = run_module("ipsec_sa", {"netns": netns, "sas": SAS}, verbosity=3)
    assert result.only["failed"] is True
    assert "esp4" in result.only["msg"] and "Protocol not supported" in result.only["msg"]
    assert result.only["changed"] is False
    assert ip_states(netns) == ""
    assert_no_key_in(result.output)


def test_sa_validation_error_names_the_field_before_any_kernel_request(netns):
    bad = [dict(SAS[0]), dict(SAS[1], enc={"algorithm": "aes-cbc", "key": "0x" + "11" * 24 + "22"})]
    result = run_module("ipsec_sa", {"netns": netns, "sas": bad}, verbosity=3)
    assert result.only["failed"] is True
    assert "sas[1].enc.key: 25 bytes given, cbc(aes) takes 16, 24 or 32 bytes" in result.only["msg"]
    assert "nothing was changed" in result.only["msg"]
    assert_no_key_in(result.output)


def test_weak_seed_algorithms_need_the_opt_in(netns):
    lartc = {"netns": netns, "src": "10.0.0.216", "dst": "10.0.0.11", "proto": "esp", "spi": 24501,
             "enc": {"algorithm": "3des-cbc", "key": '"123456789012123456789012"'}}
    refused = run_module("ipsec_sa", lartc, check=True).only
    assert refused["failed"] is True and "allow_weak_algorithms" in refused["msg"]
    allowed = run_module("ipsec_sa", dict(lartc, allow_weak_algorithms=True), check=True)
    assert allowed.only["changed"] is True
    assert "is weak" in allowed.output
    assert "123456789012123456789012" not in allowed.output
