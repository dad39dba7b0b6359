"""Controller-side key and SPI derivation (keys.py)."""

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys

MASTER = b"correct horse battery staple, from the vault"


def test_hkdf_matches_rfc5869_test_case_1():
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = keys.hkdf_sha256(ikm, info, 42, salt)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_keys_are_deterministic_and_differ_by_direction_purpose_and_generation():
    derive = keys.derive_key
    base = derive(MASTER, "a~b", "192.0.2.1", "192.0.2.2", "esp", "enc", 0, 32)
    assert base == derive(MASTER, "a~b", "192.0.2.1", "192.0.2.2", "esp", "enc", 0, 32)
    others = {derive(MASTER, "a~b", "192.0.2.2", "192.0.2.1", "esp", "enc", 0, 32),
              derive(MASTER, "a~b", "192.0.2.1", "192.0.2.2", "esp", "auth", 0, 32),
              derive(MASTER, "a~b", "192.0.2.1", "192.0.2.2", "esp", "enc", 1, 32),
              derive(b"another master", "a~b", "192.0.2.1", "192.0.2.2", "esp", "enc", 0, 32)}
    assert base not in others and len(others) == 4


def test_spis_are_unique_per_destination_and_generations_never_collide():
    directions = [("p%d" % i, "192.0.2.%d" % (i + 2), "192.0.2.1") for i in range(200)]
    gen0, gen1 = keys.plan_spis(MASTER, directions, 0), keys.plan_spis(MASTER, directions, 1)
    assert len(set(gen0.values())) == 200 and len(set(gen1.values())) == 200
    assert not set(gen0.values()) & set(gen1.values())
    assert all(spi >= 0x100 and spi & 1 == 0 for spi in gen0.values())


def test_a_forced_spi_collision_is_resolved_the_same_whatever_the_order(monkeypatch):
    real = keys.Deriver.spi
    monkeypatch.setattr(keys.Deriver, "spi", lambda self, *d, attempt=0: 0x1000 if attempt == 0 else real(self, *d, attempt=attempt))
    directions = [("a~c", "192.0.2.1", "192.0.2.3"), ("b~c", "192.0.2.2", "192.0.2.3")]
    forward, backward = keys.plan_spis(MASTER, directions, 0), keys.plan_spis(MASTER, directions[::-1], 0)
    assert forward == backward and len(set(forward.values())) == 2 and 0x1000 in forward.values()
    assert forward[("a~c", "192.0.2.1", "192.0.2.3")] == 0x1000, "the first by info string keeps its first choice"


def test_the_fast_hmac_gives_the_bytes_of_hmac_digest():
    import hmac
    deriver = keys.Deriver(MASTER)
    prk = hmac.digest(bytes(32), MASTER, "sha256")
    for message in (b"", b"x", b"xfrm.ipsec/v1|a~b|192.0.2.1->192.0.2.2|esp|enc|gen0\x01", bytes(200)):
        assert deriver._hmac(message) == hmac.digest(prk, message, "sha256")  # pylint: disable=protected-access


def test_collisions_cost_one_spi_per_direction_and_only_exceptions_are_returned():
    directions = [("p%d" % i, "192.0.2.%d" % (i + 2), "192.0.2.1", "esp") for i in range(200)]
    assert keys.spi_collisions(keys.Deriver(MASTER), directions, 0) == {}


def test_spi_planning_of_50_senders_in_a_1000_host_group_gives_each_direction_one_spi():
    hosts = {"h%04d" % i: "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(1000)}
    spis = keys.plan_spis(MASTER, [(keys.pair_name(a, b), hosts[a], hosts[b]) for a in list(hosts)[:50] for b in hosts if a != b], 0)
    assert len(spis) == 50 * 999
