"""dynotwist.config: Dynomite's YAML rules, defaults and error texts."""

from __future__ import annotations

import dataclasses
import os

from twisted.trial import unittest

from dynotwist.config import (
    Address,
    Config,
    ConfigError,
    Seed,
    Server,
    colliding_addresses,
    load_config,
    parse_config,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REDIS_SINGLE = os.path.join(HERE, "configs", "redis_single.yml")
EXAMPLE = os.path.join(HERE, os.pardir, os.pardir, "conf", "dynomite.yml")

# The keys every test pool needs; override one with a keyword, drop one with None.
BASE = {
    "listen": "0.0.0.0:8102",
    "dyn_listen": "0.0.0.0:8101",
    "stats_listen": "0.0.0.0:22222",
    "servers": "\n  - 127.0.0.1:22122:1",
    "tokens": "437425602",
}


def pool(**keys: str | None) -> str:
    """A pool ``dyn_o_mite`` with BASE's keys, updated by ``keys``."""
    merged = {**BASE, **keys}
    return "dyn_o_mite:\n" + "".join(
        f"  {key}: {value}\n" for key, value in merged.items() if value is not None
    )


def parse(**keys: str | None) -> Config:
    return parse_config(pool(**keys))


class ConfigTestCase(unittest.SynchronousTestCase):
    def error(self, text: str, filename: str = "<string>") -> str:
        """The message of the ConfigError that parsing ``text`` raises."""
        raised = self.assertRaises(ConfigError, parse_config, text, filename)
        self.assertEqual(raised.filename, filename)
        return str(raised)

    def key_error(self, **keys: str | None) -> str:
        return self.error(pool(**keys))


class ValidConfigTests(ConfigTestCase):
    def test_redis_single(self) -> None:
        """Dynomite's conf/redis_single.yml."""
        config = load_config(REDIS_SINGLE)
        self.assertEqual(config.pool_name, "dyn_o_mite")
        self.assertEqual(config.listen, Address("0.0.0.0", 8102, None))
        self.assertEqual(config.dyn_listen, Address("0.0.0.0", 8101))
        self.assertEqual(config.stats_listen, Address("0.0.0.0", 22222))
        self.assertEqual(
            config.servers, (Server(Address("127.0.0.1", 22122), 1, "127.0.0.1:22122"),)
        )
        self.assertEqual(config.tokens, (437425602,))
        self.assertEqual(config.data_store, 0)
        self.assertEqual(config.dyn_seed_provider, "simple_provider")
        self.assertTrue(config.is_redis)
        self.assertFalse(config.is_memcache)
        self.assertEqual(config.warnings, ())

    def test_example_config(self) -> None:
        """conf/dynomite.yml, the single-node example shipped with dynotwist."""
        config = load_config(EXAMPLE)
        self.assertEqual((config.datacenter, config.rack), ("dc1", "rack1"))
        self.assertEqual(config.listen, Address("127.0.0.1", 8102))
        self.assertEqual(config.dyn_listen, Address("127.0.0.1", 8101))
        self.assertEqual(config.stats_listen, Address("127.0.0.1", 22222))
        self.assertEqual(config.servers[0].address, Address("127.0.0.1", 22122))
        self.assertEqual(config.tokens, (101134286,))
        self.assertEqual(config.data_store, 0)
        self.assertEqual((config.read_consistency, config.write_consistency), ("DC_ONE", "DC_ONE"))
        self.assertEqual(config.warnings, ())

    def test_frozen(self) -> None:
        config = parse()
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, config, "timeout", 1)
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, config.listen, "port", 1)

    def test_fields(self) -> None:
        """One field per key, plus the pool name and the warnings."""
        names = [field.name for field in dataclasses.fields(Config)]
        self.assertEqual(names[0], "pool_name")
        self.assertEqual(names[-1], "warnings")
        self.assertEqual(
            set(names[1:-1]),
            set(DEFAULTS) | {"listen", "dyn_listen", "servers", "tokens"},
        )

    def test_pool_name(self) -> None:
        config = parse_config(pool().replace("dyn_o_mite", "my_pool"))
        self.assertEqual(config.pool_name, "my_pool")

    def test_raw_scalars(self) -> None:
        """Values are Dynomite's raw text: quoted or not, no YAML 1.1 octal or booleans."""
        self.assertEqual(parse(tokens="'0'").tokens, (0,))
        self.assertEqual(parse(tokens="0").tokens, (0,))
        self.assertEqual(parse(timeout="012").timeout, 12)
        self.assertEqual(parse(timeout='"7"').timeout, 7)
        self.assertEqual(parse(rack="null").rack, "null")
        self.assertEqual(parse(env="1.5").env, "1.5")

    def test_comments(self) -> None:
        config = parse_config("# a comment\n" + pool(timeout="100  # ms"))
        self.assertEqual(config.timeout, 100)


# Dynomite's code defaults (reference table 1.2) and dynotwist's (DESIGN.md).
DEFAULTS = {
    "stats_listen": Address("0.0.0.0", 22222),
    "data_store": 0,
    "rack": "localrack",
    "datacenter": "localdc",
    "dyn_seeds": (),
    "dyn_seed_provider": "simple_provider",
    "hash": "murmur",
    "hash_tag": None,
    "timeout": 5000,
    "backlog": 512,
    "client_connections": 0,
    "preconnect": True,
    "auto_eject_hosts": True,
    "server_retry_timeout": 10000,
    "server_failure_limit": 3,
    "dyn_read_timeout": 10000,
    "dyn_write_timeout": 10000,
    "dyn_port": None,
    "dyn_connections": 100,
    "gos_interval": 30000,
    "enable_gossip": False,
    "secure_server_option": "none",
    "pem_key_file": "conf/dynomite.pem",
    "recon_key_file": "conf/recon_key.pem",
    "recon_iv_file": "conf/recon_iv.pem",
    "env": "aws",
    "conn_msg_rate": 50000,
    "read_consistency": "DC_ONE",
    "write_consistency": "DC_ONE",
    "read_repairs_enabled": False,
    "stats_interval": 30000,
    "mbuf_size": 16384,
    "max_msgs": 200000,
    "datastore_connections": 1,
    "local_peer_connections": 1,
    "remote_peer_connections": 1,
    "requirepass": None,
    "datastore_password": None,
    "tls_ca_file": None,
    "tls_cert_file": None,
    "tls_key_file": "conf/dynomite.pem",
    "client_tls": False,
    "client_tls_cert_file": None,
    "client_tls_key_file": "conf/dynomite.pem",
    "client_tls_ca_file": None,
    "proto_max_bulk_len": 536870912,
    "item_size_max": 1048576,
    "workers": 1,
    "client_query_buffer_limit": 1 << 30,
    "client_output_buffer_limit": 0,
    "admin_token": None,
    "seeds_check_interval": 30000,
    "verbosity": None,
    "hinted_handoff": True,
    "hints_dir": None,
    "max_hint_window": 10800000,
    "warm_up": False,
}

# Keys where Dynomite reads an explicit 0 as "unset", hence the default.
ZERO_MEANS_DEFAULT = (
    "timeout",
    "backlog",
    "server_retry_timeout",
    "server_failure_limit",
    "dyn_read_timeout",
    "dyn_write_timeout",
    "dyn_port",
    "gos_interval",
    "conn_msg_rate",
    "stats_interval",
    "mbuf_size",
    "max_msgs",
    "datastore_connections",
    "local_peer_connections",
    "remote_peer_connections",
    "max_hint_window",
)


class DefaultTests(ConfigTestCase):
    def test_defaults(self) -> None:
        config = parse(stats_listen=None)
        for key, default in DEFAULTS.items():
            self.assertEqual(getattr(config, key), default, key)

    def test_explicit_zero_means_default(self) -> None:
        for key in ZERO_MEANS_DEFAULT:
            self.assertEqual(getattr(parse(**{key: "0"}), key), DEFAULTS[key], key)

    def test_explicit_zero_kept(self) -> None:
        """Where 0 is Dynomite's default anyway, or simply a value."""
        self.assertEqual(parse(data_store="0").data_store, 0)
        self.assertEqual(parse(client_connections="0").client_connections, 0)

    def test_set_values(self) -> None:
        config = parse(
            timeout="400",
            backlog="1024",
            client_connections="10",
            server_retry_timeout="2000",
            server_failure_limit="5",
            dyn_read_timeout="1",
            dyn_write_timeout="2",
            dyn_port="8101",
            dyn_connections="7",
            gos_interval="1000",
            conn_msg_rate="100",
            stats_interval="500",
            mbuf_size="512000",
            max_msgs="1000000",
            datastore_connections="255",
            local_peer_connections="2",
            remote_peer_connections="3",
            rack="r1",
            datacenter="d1",
            env="network",
            pem_key_file="k.pem",
            recon_key_file="rk.pem",
            recon_iv_file="riv.pem",
            dyn_seed_provider="florida_provider",
            preconnect="false",
            auto_eject_hosts="false",
            enable_gossip="true",
            read_repairs_enabled="true",
            hash="fnv1a_64",
            hash_tag='"{}"',
        )
        self.assertEqual(
            (config.timeout, config.backlog, config.client_connections), (400, 1024, 10)
        )
        self.assertEqual((config.server_retry_timeout, config.server_failure_limit), (2000, 5))
        self.assertEqual((config.dyn_read_timeout, config.dyn_write_timeout), (1, 2))
        self.assertEqual((config.dyn_port, config.dyn_connections), (8101, 7))
        self.assertEqual(
            (config.gos_interval, config.conn_msg_rate, config.stats_interval), (1000, 100, 500)
        )
        self.assertEqual((config.mbuf_size, config.max_msgs), (512000, 1000000))
        self.assertEqual(
            (
                config.datastore_connections,
                config.local_peer_connections,
                config.remote_peer_connections,
            ),
            (255, 2, 3),
        )
        self.assertEqual((config.rack, config.datacenter, config.env), ("r1", "d1", "network"))
        self.assertEqual(
            (config.pem_key_file, config.recon_key_file, config.recon_iv_file),
            ("k.pem", "rk.pem", "riv.pem"),
        )
        self.assertEqual(config.dyn_seed_provider, "florida_provider")
        self.assertEqual(
            (
                config.preconnect,
                config.auto_eject_hosts,
                config.enable_gossip,
                config.read_repairs_enabled,
            ),
            (False, False, True, True),
        )
        self.assertEqual((config.hash, config.hash_tag), ("fnv1a_64", "{}"))

    def test_stats_listen_missing_warns(self) -> None:
        config = parse(stats_listen=None)
        self.assertEqual(config.stats_listen, Address("0.0.0.0", 22222))
        self.assertEqual(
            config.warnings,
            ('conf: directive "stats_listen:" is missing - using defaults 0.0.0.0:22222',),
        )

    def test_deprecated_keys_warn(self) -> None:
        config = parse(distribution="ketama", server_connections="2")
        self.assertEqual(
            config.warnings,
            (
                '******** Field "distribution" in the conf file is DEPRECATED *********',
                '******** Field "server_connections" in the conf file is DEPRECATED *********',
            ),
        )


class DirectiveErrorTests(ConfigTestCase):
    def test_unknown(self) -> None:
        self.assertEqual(self.key_error(foo="1"), 'conf: directive "foo" is unknown')

    def test_unknown_requirepass_spelling(self) -> None:
        """Only DESIGN.md's names are added: PR #576's redis_requirepass stays unknown."""
        self.assertEqual(
            self.key_error(redis_requirepass="x"), 'conf: directive "redis_requirepass" is unknown'
        )

    def test_duplicate(self) -> None:
        text = pool() + "  timeout: 1\n  timeout: 2\n"
        self.assertEqual(self.error(text), 'conf: directive "timeout" is a duplicate')

    def test_duplicate_zero(self) -> None:
        """Found even where the first value was 0 (Dynomite misses that case)."""
        text = pool() + "  timeout: 0\n  timeout: 2\n"
        self.assertEqual(self.error(text), 'conf: directive "timeout" is a duplicate')

    def test_duplicate_sequence(self) -> None:
        text = pool() + "  servers:\n  - 127.0.0.1:6379:1\n"
        self.assertEqual(self.error(text), 'conf: directive "servers" is a duplicate')

    def test_duplicate_deprecated(self) -> None:
        text = pool() + "  distribution: a\n  distribution: b\n"
        self.assertEqual(self.error(text), 'conf: directive "distribution" is a duplicate')

    def test_empty_value(self) -> None:
        self.assertEqual(self.key_error(rack=""), 'conf: directive "rack" has an empty value')
        self.assertEqual(self.key_error(rack="''"), 'conf: directive "rack" has an empty value')

    def test_empty_sequence_item(self) -> None:
        self.assertEqual(
            self.key_error(dyn_seeds="\n  - "), 'conf: directive "dyn_seeds" has an empty value'
        )

    def test_sequence_for_single_value(self) -> None:
        self.assertEqual(
            self.key_error(rack="\n  - a"),
            'conf: directive "rack" must be a single value, not a sequence',
        )

    def test_not_a_number(self) -> None:
        for value in ("abc", "-1", "1.5", "0x10", "1e3", "+5", "2147483648", "'1 '"):
            self.assertEqual(
                self.key_error(timeout=value), 'conf: directive "timeout" is not a number', value
            )

    def test_largest_number(self) -> None:
        self.assertEqual(parse(timeout="2147483647").timeout, 2147483647)

    def test_bool(self) -> None:
        for value in ("yes", "True", "1", "on", "TRUE"):
            self.assertEqual(
                self.key_error(preconnect=value),
                'conf: directive "preconnect" is not "true" or "false"',
                value,
            )

    def test_hash(self) -> None:
        names = (
            "one_at_a_time md5 crc16 crc32 crc32a fnv1_64 fnv1a_64 fnv1_32 fnv1a_32 hsieh"
            " murmur jenkins murmur3"
        )
        for name in names.split():
            self.assertEqual(parse(hash=name).hash, name)
        self.assertEqual(
            self.key_error(hash="MURMUR"), 'conf: directive "hash" is not a valid hash'
        )

    def test_hash_tag(self) -> None:
        for value in ("'{'", "'{}}'", "'«»'"):
            self.assertEqual(
                self.key_error(hash_tag=value),
                'conf: directive "hash_tag" is not a valid hash tag string with two characters',
                value,
            )

    def test_hash_tag_counts_bytes(self) -> None:
        """Dynomite's length is in bytes: one two-byte UTF-8 character passes."""
        self.assertEqual(parse(hash_tag="é").hash_tag, "é")

    def test_consistency(self) -> None:
        for level in ("dc_one", "DC_Quorum", "dc_safe_quorum", "DC_EACH_SAFE_QUORUM"):
            config = parse(read_consistency=level, write_consistency=level)
            self.assertEqual(config.read_consistency, level.upper())
            self.assertEqual(config.write_consistency, level.upper())
        for key in ("read_consistency", "write_consistency"):
            self.assertEqual(
                self.key_error(**{key: "dc_all"}),
                f'conf: directive "{key}:"must be one of'
                " 'DC_ONE' 'DC_QUORUM' 'DC_SAFE_QUORUM' 'DC_EACH_SAFE_QUORUM'",
            )

    def test_secure_server_option(self) -> None:
        for option in ("none", "rack", "datacenter", "all"):
            config = parse(
                secure_server_option=option, tls_ca_file="ca.pem", tls_cert_file="node.pem"
            )
            self.assertEqual(config.secure_server_option, option)

    def test_secure_server_option_needs_ca_and_certificate(self) -> None:
        self.assertEqual(parse(secure_server_option="none").secure_server_option, "none")
        for files, missing in [
            ({}, '"tls_ca_file" and "tls_cert_file"'),
            ({"tls_ca_file": "ca.pem"}, '"tls_cert_file"'),
            ({"tls_cert_file": "node.pem"}, '"tls_ca_file"'),
        ]:
            self.assertEqual(
                self.key_error(secure_server_option="rack", **files),
                'conf: directive "secure_server_option" is rack, which needs %s (the CA that '
                "signs every node's certificate, and this node's certificate)" % missing,
            )

    def test_secure_server_option_refused(self) -> None:
        """Dynomite only logs this and runs unencrypted; dynotwist refuses to start."""
        for option in ("dc", "NONE", "true"):
            self.assertEqual(
                self.key_error(secure_server_option=option),
                'conf: directive "secure_server_option:"must be one of'
                " 'none' 'rack' 'datacenter' 'all'",
                option,
            )

    def test_dyn_connections_zero(self) -> None:
        self.assertEqual(
            self.key_error(dyn_connections="0"), 'conf: directive "dyn_connections:" cannot be 0'
        )

    def test_mbuf_size_range(self) -> None:
        for value in ("496", "512016"):
            self.assertEqual(
                self.key_error(mbuf_size=value),
                'conf: directive "mbuf_size" mbuf_size: mbuf chunk size must be between 512'
                " and 512000 bytes",
            )
        self.assertEqual(parse(mbuf_size="512").mbuf_size, 512)

    def test_mbuf_size_multiple_of_16(self) -> None:
        self.assertEqual(
            self.key_error(mbuf_size="1000"),
            'conf: directive "mbuf_size" mbuf_size: mbuf size must be a multiple of 16',
        )

    def test_max_msgs_range(self) -> None:
        for value in ("99999", "1000001"):
            self.assertEqual(
                self.key_error(max_msgs=value),
                'conf: directive "max_msgs" max_msgs: max allocated messages buffer must be'
                " between 100000 and 1000000 messages",
            )
        self.assertEqual(parse(max_msgs="100000").max_msgs, 100000)

    def test_connection_counts(self) -> None:
        for key in ("datastore_connections", "local_peer_connections", "remote_peer_connections"):
            self.assertEqual(
                self.key_error(**{key: "256"}), f'conf: directive "{key}" must be between 1 and 255'
            )


class RequiredKeyTests(ConfigTestCase):
    def test_listen_missing(self) -> None:
        self.assertEqual(self.key_error(listen=None), 'conf: directive "listen:" is missing')

    def test_dyn_listen_missing(self) -> None:
        self.assertEqual(
            self.key_error(dyn_listen=None), 'conf: directive "dyn_listen:" is missing'
        )

    def test_tokens_missing(self) -> None:
        self.assertEqual(self.key_error(tokens=None), 'conf: directive "tokens:" is missing')

    def test_no_datastores(self) -> None:
        self.assertEqual(self.key_error(servers=None), "conf: pool 'dyn_o_mite' has no datastores")

    def test_listen_reported_first(self) -> None:
        """Dynomite's order: listen before the datastores."""
        self.assertEqual(
            self.key_error(listen=None, servers=None), 'conf: directive "listen:" is missing'
        )


class AddressTests(ConfigTestCase):
    def test_ipv4(self) -> None:
        self.assertEqual(parse(listen="127.0.0.1:6000").listen, Address("127.0.0.1", 6000))

    def test_hostname(self) -> None:
        self.assertEqual(parse(listen="localhost:1").listen, Address("localhost", 1))
        self.assertEqual(parse(listen="redis_1.local:80").listen, Address("redis_1.local", 80))

    def test_ipv6(self) -> None:
        self.assertEqual(parse(listen="'[::1]:8102'").listen, Address("::1", 8102))
        self.assertEqual(parse(listen="::1:8102").listen, Address("::1", 8102))
        self.assertEqual(parse(listen="'[fe80::1]:65535'").listen, Address("fe80::1", 65535))

    def test_unix_socket(self) -> None:
        config = parse(listen="/tmp/dynomite.sock")
        self.assertEqual(config.listen, Address("/tmp/dynomite.sock", 0, "/tmp/dynomite.sock"))

    def test_missing_port(self) -> None:
        for value in ("localhost", "127.0.0.1"):
            self.assertEqual(
                self.key_error(listen=value),
                'conf: directive "listen" has an invalid "hostname:port" format string',
            )

    def test_bad_port(self) -> None:
        for value in ("localhost:0", "localhost:65536", "localhost:http", "'localhost:'", "h:-1"):
            self.assertEqual(
                self.key_error(dyn_listen=value),
                'conf: directive "dyn_listen" has an invalid port in "hostname:port" format string',
                value,
            )

    def test_bad_host(self) -> None:
        for value in (":8102", "'my host:8102'", "'[::1:8102'", "1:2:3:8102", "'[]:1'"):
            self.assertEqual(
                self.key_error(stats_listen=value),
                'conf: directive "stats_listen" has an invalid host in "hostname:port"'
                " format string",
                value,
            )


class ServerTests(ConfigTestCase):
    def test_name(self) -> None:
        config = parse(servers="\n  - 10.0.0.1:6379:1 redis-a")
        self.assertEqual(config.servers, (Server(Address("10.0.0.1", 6379), 1, "redis-a"),))

    def test_default_name_memcached_port(self) -> None:
        """twemproxy leaves port 11211 out of the name."""
        config = parse(servers="\n  - 10.0.0.1:11211:1", data_store="1")
        self.assertEqual(config.servers[0].name, "10.0.0.1")
        self.assertTrue(config.is_memcache)

    def test_weight(self) -> None:
        self.assertEqual(parse(servers="\n  - 10.0.0.1:6379:7").servers[0].weight, 7)

    def test_ipv6(self) -> None:
        config = parse(servers="\n  - '[::1]:6379:1'")
        self.assertEqual(config.servers, (Server(Address("::1", 6379), 1, "[::1]:6379"),))

    def test_unix_socket(self) -> None:
        config = parse(servers="\n  - /var/run/redis.sock:1 local")
        self.assertEqual(
            config.servers,
            (Server(Address("/var/run/redis.sock", 0, "/var/run/redis.sock"), 1, "local"),),
        )
        unnamed = parse(servers="\n  - /var/run/redis.sock:1").servers[0]
        self.assertEqual(unnamed.name, "/var/run/redis.sock")

    def test_scalar_instead_of_sequence(self) -> None:
        """Dynomite takes a single server written as a plain value too."""
        config = parse(servers="127.0.0.1:6379:1")
        self.assertEqual(config.servers[0].address, Address("127.0.0.1", 6379))

    def test_bad_format(self) -> None:
        for value in ("127.0.0.1:6379", "127.0.0.1", "/tmp/redis.sock", "'a:1:1 '", ":1"):
            self.assertEqual(
                self.key_error(servers=f"\n  - {value}"),
                'conf: directive "servers" has an invalid "hostname:port:weight [name]"or'
                ' "/path/unix_socket:weight [name]" format string',
                value,
            )

    def test_bad_weight(self) -> None:
        for value in ("127.0.0.1:6379:x", "127.0.0.1:6379:-1", "'127.0.0.1:6379:1 a b'"):
            self.assertEqual(
                self.key_error(servers=f"\n  - {value}"),
                'conf: directive "servers" has an invalid weight in'
                ' "hostname:port:weight [name]" format string',
                value,
            )

    def test_bad_port(self) -> None:
        self.assertEqual(
            self.key_error(servers="\n  - 127.0.0.1:70000:1"),
            'conf: directive "servers" has an invalid port in "hostname:port:weight [name]"'
            " format string",
        )

    def test_only_one_datastore(self) -> None:
        self.assertEqual(
            self.key_error(servers="\n  - 127.0.0.1:6379:1\n  - 127.0.0.1:6380:1"),
            'conf: directive "servers" has more than one datastore; only one is supported',
        )


class SeedTests(ConfigTestCase):
    def test_seeds(self) -> None:
        config = parse(
            dyn_seeds="\n  - 10.0.0.2:8101:rack1:dc1:1383429731\n"
            "  - 10.0.0.3:8101:rack2:dc2:1,2147483648,4294967295 node3"
        )
        self.assertEqual(
            config.dyn_seeds,
            (
                Seed("10.0.0.2", 8101, "rack1", "dc1", (1383429731,), "10.0.0.2"),
                Seed("10.0.0.3", 8101, "rack2", "dc2", (1, 2147483648, 4294967295), "node3"),
            ),
        )

    def test_ipv6_and_hostname(self) -> None:
        config = parse(dyn_seeds="\n  - '[::1]:8101:r:d:0'\n  - db-2.example:8101:r:d:5")
        self.assertEqual(config.dyn_seeds[0], Seed("::1", 8101, "r", "d", (0,), "::1"))
        self.assertEqual(config.dyn_seeds[1].host, "db-2.example")

    def test_bad_format(self) -> None:
        for value in ("10.0.0.2:8101:rack1:1", "10.0.0.2:8101::dc1:1", "10.0.0.2"):
            self.assertEqual(
                self.key_error(dyn_seeds=f"\n  - {value}"),
                'conf: directive "dyn_seeds" has an invalid format must match'
                ' "hostname:port:rack:dc:tokens [name]"',
                value,
            )

    def test_bad_port(self) -> None:
        self.assertEqual(
            self.key_error(dyn_seeds="\n  - 10.0.0.2:0:r:d:1"),
            'conf: directive "dyn_seeds" has an invalid port in'
            ' "hostname:port:rack:dc:tokens [name]" format string',
        )

    def test_bad_token(self) -> None:
        self.assertEqual(
            self.key_error(dyn_seeds="\n  - 10.0.0.2:8101:r:d:x"),
            'conf: directive "dyn_seeds" has an invalid token "x": tokens are comma-separated'
            " integers from 0 to 4294967295",
        )


class TokenTests(ConfigTestCase):
    def test_several(self) -> None:
        self.assertEqual(parse(tokens="'1, 2,3'").tokens, (1, 2, 3))

    def test_range(self) -> None:
        self.assertEqual(parse(tokens="4294967295").tokens, (4294967295,))
        for value in ("4294967296", "-1", "1,,2", "abc", "'1,'"):
            self.assertIn(
                'conf: directive "tokens" has an invalid token', self.key_error(tokens=value)
            )


class DataStoreTests(ConfigTestCase):
    def test_memcache(self) -> None:
        self.assertEqual(parse(data_store="1").data_store, 1)

    def test_invalid_number(self) -> None:
        self.assertEqual(
            self.key_error(data_store="2"),
            'Invalid datastore in conf file: "data_store" must be 0 (redis), 1 (memcache)'
            ' or "package.module:Class"',
        )

    def test_class_path(self) -> None:
        for path in ("mypkg.store:MyDatastore", "mypkg.store.MyDatastore", "store:Outer.Inner"):
            config = parse(data_store=path)
            self.assertEqual(config.data_store, path)
            self.assertFalse(config.is_redis)

    def test_bad_class_path(self) -> None:
        for path in ("'mypkg.store:'", "1pkg:Store", "my-pkg.store:Store", "a..b"):
            self.assertEqual(
                self.key_error(data_store=path),
                'conf: directive "data_store" is not 0 (redis), 1 (memcache), a datastore'
                ' plugin\'s name or a "package.module:Class" path',
                path,
            )

    def test_plugin_names(self) -> None:
        """A name is a datastore plugin's, looked up at startup (``redis``, ``memcache``
        and any installed)."""
        self.assertEqual(parse(data_store="redis").data_store, "redis")
        self.assertEqual(parse(data_store="my_kind").data_store, "my_kind")


class DynotwistKeyTests(ConfigTestCase):
    def test_passwords(self) -> None:
        config = parse(requirepass="s3cret", datastore_password="'back end'")
        self.assertEqual((config.requirepass, config.datastore_password), ("s3cret", "back end"))

    def test_tls_files(self) -> None:
        config = parse(
            tls_ca_file="ca.pem",
            tls_cert_file="node.pem",
            tls_key_file="node.key",
            client_tls_ca_file="clients-ca.pem",
        )
        self.assertEqual(
            (config.tls_ca_file, config.tls_cert_file, config.tls_key_file),
            ("ca.pem", "node.pem", "node.key"),
        )
        self.assertEqual(
            (config.client_tls_cert_file, config.client_tls_key_file), ("node.pem", "node.key")
        )
        self.assertEqual(config.client_tls_ca_file, "clients-ca.pem")

    def test_tls_key_defaults_to_pem_key_file(self) -> None:
        config = parse(pem_key_file="conf/node.pem")
        self.assertEqual((config.tls_key_file, config.client_tls_key_file), ("conf/node.pem",) * 2)

    def test_client_tls(self) -> None:
        config = parse(
            client_tls="true", client_tls_cert_file="client.pem", client_tls_key_file="client.key"
        )
        self.assertTrue(config.client_tls)
        self.assertEqual(
            (config.client_tls_cert_file, config.client_tls_key_file), ("client.pem", "client.key")
        )

    def test_client_tls_needs_certificate(self) -> None:
        self.assertEqual(
            self.key_error(client_tls="true"),
            'conf: directive "client_tls" needs "client_tls_cert_file" or "tls_cert_file"',
        )
        self.assertTrue(parse(client_tls="true", tls_cert_file="node.pem").client_tls)

    def test_limits(self) -> None:
        config = parse(proto_max_bulk_len="1048576", item_size_max="2048", workers="4")
        self.assertEqual(
            (config.proto_max_bulk_len, config.item_size_max, config.workers), (1048576, 2048, 4)
        )

    def test_limits_positive(self) -> None:
        for key in ("proto_max_bulk_len", "item_size_max", "workers"):
            self.assertEqual(
                self.key_error(**{key: "0"}), f'conf: directive "{key}" must be a positive number'
            )
            self.assertEqual(
                self.key_error(**{key: "x"}), f'conf: directive "{key}" is not a number'
            )


    def test_buffer_limits_take_redis_units(self) -> None:
        defaults = parse()
        self.assertEqual(
            (defaults.client_query_buffer_limit, defaults.client_output_buffer_limit),
            (1 << 30, 0),
        )
        for text, size in (("4096", 4096), ("1k", 1000), ("1kb", 1024), ("2MB", 2 << 20),
                           ("1g", 10**9), ("1gb", 1 << 30), ("0", 0)):
            config = parse(client_query_buffer_limit=text, client_output_buffer_limit=text)
            self.assertEqual(config.client_query_buffer_limit, size, text)
            self.assertEqual(config.client_output_buffer_limit, size, text)
        for text in ("lots", "12 parsecs", "1tb", "-5"):
            self.assertEqual(
                self.key_error(client_query_buffer_limit=text),
                'conf: directive "client_query_buffer_limit" is not a number of bytes'
                " (digits, optionally with k, kb, m, mb, g or gb)",
            )

    def test_admin_token(self) -> None:
        self.assertIsNone(parse().admin_token)
        self.assertEqual(parse(admin_token="s3cret-t0ken").admin_token, "s3cret-t0ken")

    def test_repair_keys(self) -> None:
        config = parse(
            hinted_handoff="false", hints_dir="/var/lib/dynotwist/hints",
            max_hint_window="60000", warm_up="true",
        )
        self.assertFalse(config.hinted_handoff)
        self.assertEqual(config.hints_dir, "/var/lib/dynotwist/hints")
        self.assertEqual(config.max_hint_window, 60000)
        self.assertTrue(config.warm_up)
        self.assertEqual(
            self.key_error(hinted_handoff="yes"),
            'conf: directive "hinted_handoff" is not "true" or "false"',
        )
        self.assertEqual(
            self.key_error(warm_up="1"), 'conf: directive "warm_up" is not "true" or "false"'
        )
        self.assertEqual(
            self.key_error(max_hint_window="3h"),
            'conf: directive "max_hint_window" is not a number',
        )


class YamlRuleTests(ConfigTestCase):
    """Dynomite's conf_pre_validate: documents, tokens, structure."""

    def test_no_document(self) -> None:
        for text in ("", "# only a comment\n"):
            self.assertEqual(
                self.error(text, "a.yml"),
                "conf: 'a.yml' must contain only 1 document; found 0 documents",
            )

    def test_two_documents(self) -> None:
        self.assertEqual(
            self.error(pool() + "---\n" + pool(), "a.yml"),
            "conf: 'a.yml' must contain only 1 document; found 2 documents",
        )

    def test_disallowed_tokens(self) -> None:
        cases = {
            "%YAML 1.1\n---\n" + pool(): "conf: version directive token (3) is disallowed",
            "%TAG !e! tag:e.com,2000:\n---\n"
            + pool(): "conf: tag directive token (4) is disallowed",
            "---\n" + pool(): "conf: document start token (5) is disallowed",
            pool() + "...\n": "conf: document end token (6) is disallowed",
            pool(rack="[a]"): "conf: flow sequence start token (10) is disallowed",
            pool(rack="{a: b}"): "conf: flow mapping start token (12) is disallowed",
            pool(rack="&r a"): "conf: anchor token (19) is disallowed",
            pool(rack="*r"): "conf: alias token (18) is disallowed",
            pool(rack="!!str a"): "conf: tag token (20) is disallowed",
            pool(rack="!local a"): "conf: tag token (20) is disallowed",
        }
        for text, message in cases.items():
            self.assertEqual(self.error(text), message, text)

    def test_root_not_a_mapping(self) -> None:
        self.assertEqual(
            self.error("dyn_o_mite\n", "a.yml"),
            "conf: 'a.yml' has invalid empty \"key:\" at depth 0",
        )
        self.assertEqual(
            self.error("- dyn_o_mite\n", "a.yml"),
            "conf: 'a.yml' has sequence at depth 0 instead of 2",
        )

    def test_pool_not_a_mapping(self) -> None:
        self.assertEqual(
            self.error("dyn_o_mite: x\n", "a.yml"),
            "conf: 'a.yml' has invalid mapping \"key:\" at depth 1",
        )
        self.assertEqual(
            self.error("dyn_o_mite:\n- x\n", "a.yml"),
            "conf: 'a.yml' has sequence at depth 1 instead of 2",
        )

    def test_two_pools(self) -> None:
        self.assertEqual(
            self.error(pool() + pool().replace("dyn_o_mite", "other"), "a.yml"),
            "conf: 'a.yml' has more than one \"key:value\" at depth 1",
        )

    def test_too_deep(self) -> None:
        for value in ("\n    a: b", "\n  - a: b"):
            self.assertEqual(
                self.error(pool(rack=value), "a.yml"), "conf: 'a.yml' has a depth greater than 2"
            )

    def test_nested_sequence(self) -> None:
        self.assertEqual(
            self.error(pool(dyn_seeds="\n  - - a"), "a.yml"),
            "conf: 'a.yml' has more than one sequence directive",
        )

    def test_empty_key(self) -> None:
        self.assertEqual(
            self.error(pool() + "  '': x\n", "a.yml"),
            "conf: 'a.yml' has invalid empty \"key:\" at depth 2",
        )

    def test_syntax_error_names_file_and_line(self) -> None:
        text = "dyn_o_mite:\n  listen: 0.0.0.0:8102\n bad: indent\n"
        self.assertEqual(
            self.error(text, "conf/bad.yml"),
            "conf: 'conf/bad.yml' is not valid YAML at line 3, column 2:"
            " expected <block end>, but found '<block mapping start>'",
        )

    def test_tab_indent(self) -> None:
        self.assertIn(
            "conf: 'a.yml' is not valid YAML at line 2, column 1",
            self.error("dyn_o_mite:\n\tlisten: x\n", "a.yml"),
        )

    def test_unprintable_character(self) -> None:
        self.assertIn("conf: 'a.yml' is not valid YAML", self.error("a:\n  b: \x00\n", "a.yml"))


class LoadConfigTests(ConfigTestCase):
    def test_filename_in_errors(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(pool(timeout="x"))
        raised = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(raised.filename, path)
        self.assertEqual(str(raised), 'conf: directive "timeout" is not a number')

    def test_missing_file(self) -> None:
        path = self.mktemp()
        raised = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(
            str(raised), f"conf: failed to open configuration '{path}': No such file or directory"
        )
        self.assertEqual(raised.filename, path)

    def test_directory(self) -> None:
        path = self.mktemp()
        os.mkdir(path)
        raised = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(str(raised).startswith(f"conf: failed to open configuration '{path}': "))

    def test_not_utf8(self) -> None:
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"dyn_o_mite:\n  rack: \xff\n")
        raised = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(str(raised).startswith(f"conf: '{path}' is not UTF-8 text"))


class OperatorMessageTests(ConfigTestCase):
    """Beyond Dynomite's one line: the file, the line, the key, the value refused and
    what is allowed, with a near miss named."""

    def described(self, text: str) -> str:
        raised = self.assertRaises(ConfigError, parse_config, text, "conf/x.yml")
        return raised.describe()

    def test_a_bad_value(self) -> None:
        text = pool(hash="murmur9")
        line = text.split("\n").index("  hash: murmur9") + 1
        self.assertEqual(
            self.described(text).split("\n"),
            [
                'conf: directive "hash" is not a valid hash',
                "  at 'conf/x.yml', line %d, key \"hash\", value \"murmur9\"" % line,
                "  allowed: crc16, crc32, crc32a, fnv1_32, fnv1_64, fnv1a_32, fnv1a_64, hsieh,"
                " jenkins, md5, murmur, murmur3, one_at_a_time (did you mean murmur?)",
            ],
        )

    def test_a_near_miss_key(self) -> None:
        described = self.described(pool(read_consistancy="dc_one"))
        self.assertIn('conf: directive "read_consistancy" is unknown', described)
        self.assertIn("did you mean read_consistency?", described)
        self.assertNotIn("did you mean", self.described(pool(zzzz="1")))

    def test_a_near_miss_value(self) -> None:
        described = self.described(pool(write_consistency="dc_qourum"))
        self.assertIn('value "dc_qourum"', described)
        self.assertIn(
            "allowed: dc_one, dc_quorum, dc_safe_quorum, dc_each_safe_quorum"
            " (did you mean dc_quorum?)",
            described,
        )

    def test_numbers_and_addresses_say_what_they_take(self) -> None:
        self.assertIn("allowed: a whole number from 0 to 2147483647",
                      self.described(pool(timeout="5s")))
        self.assertIn("allowed: host:port", self.described(pool(listen="localhost")))
        self.assertIn("data_store", self.described(pool(data_store="a-b")))
        self.assertIn("allowed: 0 (redis), 1 (memcache)",
                      self.described(pool(data_store="a-b")))

    def test_a_flow_list_names_its_line(self) -> None:
        text = pool(servers="[]")
        described = self.described(text)
        self.assertIn("conf: flow sequence start token (10) is disallowed", described)
        line = next(i for i, x in enumerate(text.split("\n"), 1) if x.startswith("  servers:"))
        self.assertIn("line %d" % line, described)
        self.assertIn("one '- value' line per item", described)


class CollidingAddressTests(unittest.SynchronousTestCase):
    def test_ports_of_the_node_and_its_datastore(self) -> None:
        self.assertEqual(colliding_addresses(parse()), [])
        problems = colliding_addresses(parse(stats_listen=BASE["listen"]))
        self.assertEqual(len(problems), 1)
        self.assertIn('"listen" and "stats_listen" name the same address', problems[0])
        problems = colliding_addresses(parse(stats_listen="0.0.0.0:%s"
                                             % BASE["dyn_listen"].rsplit(":", 1)[1]))
        self.assertIn('"dyn_listen" and "stats_listen"', problems[0])
        server = BASE["listen"] + ":1"
        problems = colliding_addresses(parse(servers="\n  - " + server))
        self.assertIn("the node would be its own datastore", problems[0])
