"""librdkafka's own log lines, shown with -vv, never carry a secret."""

from support.configs import SECRET


def test_verbose_client_logs_never_show_the_password(cli, config_file, kafka_bootstrap):
    # -vv shows librdkafka's logs; the profile's planted password must not appear in them.
    result = cli("-v", "-v", "-b", kafka_bootstrap, "-X", "security.protocol=PLAINTEXT",
                 "-X", "sasl.mechanism=PLAIN", "cluster", "info", "-o", "json")
    assert result.code == 0, result.stderr
    assert "librdkafka" in result.stderr
    assert SECRET not in result.stdout + result.stderr

