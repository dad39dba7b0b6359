"""The seed documents' setkey files (../shared/reference), as printed: shared by the unit and lab tests."""

# LARTC "IPSEC: secure IP over the Internet", the full configuration printed for 10.0.0.216; the one printed for
# 10.0.0.11 differs only in the policies' directions
LARTC_216 = """#!/sbin/setkey -f
flush;
spdflush;

# AH
add 10.0.0.11 10.0.0.216 ah 15700 -A hmac-md5 "1234567890123456";
add 10.0.0.216 10.0.0.11 ah 24500 -A hmac-md5 "1234567890123456";

# ESP
add 10.0.0.11 10.0.0.216 esp 15701 -E 3des-cbc "123456789012123456789012";
add 10.0.0.216 10.0.0.11 esp 24501 -E 3des-cbc "123456789012123456789012";

spdadd 10.0.0.216 10.0.0.11 any -P out ipsec
           esp/transport//require
           ah/transport//require;

spdadd 10.0.0.11 10.0.0.216 any -P in ipsec
           esp/transport//require
           ah/transport//require;
"""
LARTC_11 = LARTC_216.replace("-P out", "-P x").replace("-P in", "-P out").replace("-P x", "-P in")

# KAME "host-to-host encryption": host A (10.1.1.1) and host B (10.2.2.2)
KAME_A = """add 10.1.1.1 10.2.2.2 esp 9998 -E des-cbc "hogehoge" ;
add 10.2.2.2 10.1.1.1 esp 9999 -E des-cbc "hogehoge" ;
spdadd 10.1.1.1 10.2.2.2 any -P out ipsec esp/transport//use;
"""
KAME_B = KAME_A.replace("spdadd 10.1.1.1 10.2.2.2", "spdadd 10.2.2.2 10.1.1.1")

# KAME "IPsec tunnel" on gateways 10.1.1.1 and 10.2.2.2, as printed (-P without a direction: old KAME)
KAME_TUNNEL = """add 10.1.1.1 10.2.2.2 esp 9998 -E des-cbc "hogehoge" ;
add 10.2.2.2 10.1.1.1 esp 9999 -E des-cbc "hogehoge" ;
spdadd 10.1.1.0/24 10.2.2.0/24 any -P ipsec esp/tunnel/10.1.1.1-10.2.2.2/use;
"""
KAME_TUNNEL_B = KAME_TUNNEL.replace("spdadd 10.1.1.0/24 10.2.2.0/24 any -P ipsec esp/tunnel/10.1.1.1-10.2.2.2/use;",
                                    "spdadd 10.2.2.0/24 10.1.1.0/24 any -P ipsec esp/tunnel/10.2.2.2-10.1.1.1/use;")
