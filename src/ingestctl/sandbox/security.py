"""Security for the sandbox broker (`sandbox start --security`): the listeners a production
cluster has, beside the PLAINTEXT one every other use of the sandbox keeps.

- SASL_PLAINTEXT with SCRAM-SHA-512 (users live in the cluster's metadata, so more can be
  added at any time) and PLAIN (users fixed in the broker's configuration: only the super user);
- SSL with a CA, a broker certificate and client certificates this module generates with
  openssl (client authentication required; a certificate's CN is its principal);
- KRaft's StandardAuthorizer enforcing ACLs, with `admin` as super user, so tests can create
  restricted principals and see exactly which ACL a command lacks.

The PLAINTEXT and controller listeners authenticate nobody: their principal, ANONYMOUS, is a
super user too, which keeps the broker's own controller traffic and every PLAINTEXT client
working as before. Secrets (the super user's password, private keys) live only in the
sandbox's `security/` directory (0700, files 0600) and in server.properties inside the data
dir, which becomes 0700.
"""

import os
import secrets as token
import shutil
import subprocess
from pathlib import Path

from ..errors import SandboxError, UsageError
from ..files.fs import atomic_write, private_dir

SUPER_USER = "admin"
SASL_MECHANISMS = ("SCRAM-SHA-512", "PLAIN")
SECURITY_DIR = "security"
CREDENTIALS_FILE = f"{SUPER_USER}.properties"
_DAYS = "3650"

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


def _openssl() -> str:
    tool = shutil.which("openssl")
    if not tool:

        raise SandboxError(
            "the sandbox's TLS listener needs certificates made with openssl, which is not "
            "installed; install it (apt-get install openssl)."
        )
    return tool


def _run_openssl(args: list[str], cwd: Path) -> None:
    result = subprocess.run([_openssl(), *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:

        detail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise SandboxError(f"openssl {args[0]} failed: {' '.join(detail)[:300]}")


def _config(directory: Path) -> Path:
    path = directory / "openssl.cnf"
    if not path.exists():
        path.write_text(_OPENSSL_CONFIG)
    return path


def new_certificate_authority(directory: Path, name: str = "ingestctl sandbox CA"
                              ) -> tuple[Path, Path]:
    """A self-signed CA in directory: (ca.pem, ca.key)."""
    directory = private_dir(directory)
    cert, key = directory / "ca.pem", directory / "ca.key"
    _run_openssl(["req", "-x509", "-config", str(_config(directory)), "-extensions", "ca",
                  "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                  "-days", _DAYS, "-subj", f"/CN={name}"], directory)
    os.chmod(key, 0o600)
    return cert, key


def issue_certificate(ca_dir: Path, name: str, out_dir: Path | None = None,
                      server: bool = False) -> tuple[Path, Path]:
    """A certificate with CN=name signed by the CA in ca_dir: (NAME.pem, NAME.key) in out_dir
    (default ca_dir). A client certificate's CN is its principal on the sandbox (User:NAME)."""
    ca_dir = Path(ca_dir)
    out_dir = private_dir(Path(out_dir or ca_dir))
    cert, key, csr = out_dir / f"{name}.pem", out_dir / f"{name}.key", out_dir / f"{name}.csr"
    config = _config(ca_dir)
    _run_openssl(["req", "-new", "-config", str(config), "-newkey", "rsa:2048", "-nodes",
                  "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}"], out_dir)
    os.chmod(key, 0o600)
    _run_openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca_dir / "ca.pem"),
                  "-CAkey", str(ca_dir / "ca.key"), "-set_serial", str(token.randbits(63)),
                  "-days", _DAYS, "-extfile", str(config),
                  "-extensions", "server" if server else "client", "-out", str(cert)], out_dir)
    csr.unlink()
    return cert, key


def _credentials_text(password: str) -> str:
    return (
        f"# The sandbox's super user, as a client.properties (ingestctl --command-config, or\n"
        f"# Kafka's own tools) for its SASL_PLAINTEXT listener. Private: mode 0600.\n"
        f"security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{SUPER_USER}" password="{password}";\n'
    )


def super_user_password(info: dict) -> str:
    """The super user's password, read back from its credentials file."""
    from ..config import parse_properties

    return parse_properties(Path(info["credentials_file"]))["sasl.password"]


def prepare(data_dir: Path, previous: dict | None, pick_port) -> dict:
    """Ports, certificates and the super user's credentials for a secured broker: made once,
    kept across restarts. Returns what the sandbox's state file records (no secret)."""
    previous = previous or {}
    os.chmod(data_dir, 0o700)  # server.properties holds the PLAIN password
    directory = private_dir(data_dir / SECURITY_DIR)
    if not (directory / "ca.pem").exists():
        new_certificate_authority(directory)
    if not (directory / "broker.pem").exists():
        cert, key = issue_certificate(directory, "broker", server=True)
        chain = key.read_text() + cert.read_text() + (directory / "ca.pem").read_text()
        atomic_write(directory / "broker-keystore.pem", chain)
    if not (directory / f"{SUPER_USER}.pem").exists():
        issue_certificate(directory, SUPER_USER)
    credentials = directory / CREDENTIALS_FILE
    if not credentials.exists():
        atomic_write(credentials, _credentials_text(token.token_urlsafe(18)))
    return {
        "sasl_port": previous.get("sasl_port") or pick_port(),
        "ssl_port": previous.get("ssl_port") or pick_port(),
        "dir": str(directory),
        "credentials_file": str(credentials),
    }


def server_properties(base: str, info: dict) -> str:
    """The broker's server.properties with the secured listeners and the authorizer added."""
    directory = Path(info["dir"])
    sasl = f"SASL_PLAINTEXT://127.0.0.1:{info['sasl_port']}"
    ssl = f"SSL://127.0.0.1:{info['ssl_port']}"
    password = super_user_password(info)
    extended = {
        "listeners": lambda value: f"{value},{sasl},{ssl}",
        "advertised.listeners": lambda value: f"{value},{sasl},{ssl}",
        "listener.security.protocol.map":
            lambda value: f"{value},SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL",
    }
    lines = []
    for line in base.splitlines():
        key, sep, value = line.partition("=")
        lines.append(f"{key}={extended[key](value)}" if sep and key in extended else line)
    lines += [
        f"sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config="
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{SUPER_USER}="{password}";',
        "listener.name.ssl.ssl.keystore.type=PEM",
        f"listener.name.ssl.ssl.keystore.location={directory / 'broker-keystore.pem'}",
        "listener.name.ssl.ssl.truststore.type=PEM",
        f"listener.name.ssl.ssl.truststore.location={directory / 'ca.pem'}",
        "listener.name.ssl.ssl.client.auth=required",
        # A client certificate's principal is its CN (User:admin), not the whole DN.
        "ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/,DEFAULT",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:ANONYMOUS;User:{SUPER_USER}",
        "",
    ]
    return "\n".join(lines)


def after_start(bootstrap: str, info: dict, timeout: float) -> None:
    """Give the super user its SCRAM credential (through the PLAINTEXT listener); idempotent,
    so a restart or a reused data dir converges."""
    from ..config import Settings
    from ..kafka import Admin
    from ..kafka.security import upsert_scram_user

    admin = Admin(Settings(bootstrap_servers=bootstrap, timeout=timeout))
    upsert_scram_user(admin, SUPER_USER, super_user_password(info))


def describe(info: dict) -> dict:
    """The status fields of a secured sandbox: addresses and file paths, never a secret."""
    directory = Path(info["dir"])
    return {
        "sasl_bootstrap": f"127.0.0.1:{info['sasl_port']}",
        "sasl_mechanisms": list(SASL_MECHANISMS),
        "ssl_bootstrap": f"127.0.0.1:{info['ssl_port']}",
        "ca_file": str(directory / "ca.pem"),
        "super_user": SUPER_USER,
        "credentials_file": info["credentials_file"],
        "client_certificate": str(directory / f"{SUPER_USER}.pem"),
        "client_key": str(directory / f"{SUPER_USER}.key"),
    }


def refuse_change(data_dir: Path, running_secured: bool, wanted: bool) -> None:
    """A running sandbox keeps its listeners: --security on a plain one needs a restart."""
    if wanted and not running_secured:
        raise UsageError(
            f"the sandbox in {data_dir} is running without --security; stop it first, then "
            "start it again with --security."
        )
