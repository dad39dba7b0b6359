"""Controller-side key and SPI derivation (keys.py)."""

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys

MASTER = b"correct horse battery staple, from the vault"


def test_extract_matches_rfc5869_test_case_1():
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    assert keys.extract(ikm, salt).hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"


def test_keys_are_the_documented_keyed_blake2b_blocks_of_the_direction_info():
    import hashlib
    import hmac
    prk = hmac.digest(bytes(32), MASTER, "sha256")
    info = b"xfrm.ipsec/v2|a~b|192.0.2.1->192.0.2.2|esp|gen3"
    expected = b"".join(hashlib.blake2b(info + bytes([i]), key=prk, digest_size=64).digest() for i in (1, 2))
    deriver = keys.Deriver(MASTER)
    assert deriver.keys("a~b", "192.0.2.1", "192.0.2.2", "esp", 3, 96) == expected[:96]
    assert deriver.keys("a~b", "192.0.2.1", "192.0.2.2", "esp", 3, 64) == expected[:64]
    spi = int.from_bytes(hashlib.blake2b(info + b"|spi|0", key=prk, digest_size=4).digest(), "big")
    assert deriver.spi("a~b", "192.0.2.1", "192.0.2.2", "esp", 3) == (spi | 1 if spi >= 0x100 else (spi | 1) | 0x100)


def test_keys_are_deterministic_and_differ_by_direction_generation_and_master():
    def derive(master, src, dst, generation):
        return keys.Deriver(master).keys("a~b", src, dst, "esp", generation, 64)
    base = derive(MASTER, "192.0.2.1", "192.0.2.2", 0)
    assert base == derive(MASTER, "192.0.2.1", "192.0.2.2", 0)
    others = {derive(MASTER, "192.0.2.2", "192.0.2.1", 0), derive(MASTER, "192.0.2.1", "192.0.2.2", 1),
              derive(b"another master", "192.0.2.1", "192.0.2.2", 0)}
    assert base not in others and len(others) == 3
    assert base[:32] != base[32:], "the encryption and authentication keys differ"


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


def test_collisions_cost_one_spi_per_direction_and_only_exceptions_are_returned():
    directions = [("p%d" % i, "192.0.2.%d" % (i + 2), "192.0.2.1", "esp") for i in range(200)]
    assert keys.spi_collisions(keys.Deriver(MASTER), directions, 0) == {}


def test_spi_planning_of_50_senders_in_a_1000_host_group_gives_each_direction_one_spi():
    hosts = {"h%04d" % i: "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(1000)}
    spis = keys.plan_spis(MASTER, [(keys.pair_name(a, b), hosts[a], hosts[b]) for a in list(hosts)[:50] for b in hosts if a != b], 0)
    assert len(spis) == 50 * 999
