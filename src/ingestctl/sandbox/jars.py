"""Java and the jars: a JDK new enough for each component, and the Apache Kafka and Apicurio
Registry artifacts resolved once per version from Maven Central with mvn, cached."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import SandboxError, UsageError


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ingestctl"


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def find_java(min_major: int, purpose: str) -> str:
    """A java executable of at least min_major: JAVA_HOME, PATH, then the system JVM dir."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    for java in candidates:
        major = _java_major(java)
        if major and major >= min_major:
            return java
    raise SandboxError(
        f"{purpose} needs Java {min_major} or newer and none was found; install it "
        f"(e.g. apt-get install openjdk-{max(min_major, 17)}-jre-headless) or set JAVA_HOME."
    )


# The Apache Kafka versions the sandbox runs, each tested by tests/compat (4.3.1 by the main
# suite): the broker in KRaft combined mode and, with --with-connect, its Kafka Connect.
SUPPORTED_KAFKA_VERSIONS = ("3.7.2", "3.9.1", "4.3.1", "4.4.0")

# Versions whose Kafka Connect the sandbox cannot run, and why (checked 2026-11-30): Maven
# Central does not serve org.apache.kafka:connect-file:4.4.0, and 4.3.1's file connectors do
# not load in a 4.4.0 worker (Kafka 4.4 moved AppInfoParser, which they call, to
# org.apache.kafka.common.utils.internals: NoClassDefFoundError while scanning plugins).
NO_CONNECT = {
    "4.4.0": "Maven Central does not serve its file connectors (connect-file 4.4.0) and those "
             "of 4.3.1 fail to load in a 4.4 worker",
}


def check_connect_version(version: str) -> None:
    if version in NO_CONNECT:
        raise UsageError(
            f"the sandbox cannot run Kafka Connect {version}: {NO_CONNECT[version]}; use "
            "--with-connect with another --kafka-version (and another --data-dir)."
        )


def check_kafka_version(version: str) -> None:
    if version not in SUPPORTED_KAFKA_VERSIONS:
        listed = ", ".join(SUPPORTED_KAFKA_VERSIONS)
        raise UsageError(
            f"the sandbox does not run Apache Kafka {version}; choose one of {listed}."
        )


def kafka_major(version: str) -> int:
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 0


def uses_log4j2(version: str) -> bool:
    """Kafka 4 logs through log4j2; Kafka 3 through reload4j (log4j 1), which its pom brings
    with its slf4j binding."""
    return kafka_major(version) >= 4


def _kafka_dependencies(version: str) -> list[tuple[str, str, str]]:
    deps = [("org.apache.kafka", "kafka_2.13", version),
            ("org.apache.kafka", "kafka-tools", version)]
    if version not in NO_CONNECT:
        deps.append(("org.apache.kafka", "connect-file", version))
    if uses_log4j2(version):  # Kafka 3's pom brings reload4j and its slf4j binding
        deps.append(("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.4"))
    return deps


def _pom(name: str, deps: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>ingestctl.sandbox</groupId><artifactId>{name}</artifactId>"
        f"<version>1</version><dependencies>{body}</dependencies></project>"
    )


def _find_mvn(purpose: str, alternative: str = "") -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise SandboxError(
            f"{purpose} needs Maven (mvn) and it is not installed; install it "
            f"(apt-get install maven){alternative}."
        )
    return mvn


def resolve_runtime_jars(cache_name: str, deps: list[tuple[str, str, str]], expect: str,
                         what: str, progress=lambda msg: None, alternative: str = "") -> Path:
    """The runtime classpath of `deps` (with their dependencies), resolved once with mvn into
    <cache>/<cache_name>/libs; `expect` is a jar name pattern the result must hold."""
    libs = cache_root() / cache_name / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = _find_mvn(f"resolving {what}'s jars", alternative)
    progress(f"resolving {what} jars from Maven Central (once)…")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as tmp:
        Path(tmp, "pom.xml").write_text(_pom(cache_name, deps))
        out_dir = Path(tmp) / "libs"
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={out_dir}"],
            cwd=tmp, capture_output=True, text=True,
        )
        if result.returncode != 0 or not any(out_dir.glob(expect)):
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise SandboxError(
                f"mvn could not resolve {what} ({' / '.join(tail)[:300]}); "
                "check the version and that Maven Central is reachable."
            )
        (out_dir / ".complete").write_text(cache_name)
        if libs.exists():
            shutil.rmtree(libs)
        out_dir.rename(libs)
    return libs


def resolve_kafka_jars(version: str, progress=lambda msg: None) -> Path:
    """The broker's runtime jars (and Kafka Connect's), resolved once per version with mvn."""
    return resolve_runtime_jars(f"kafka-{version}", _kafka_dependencies(version),
                                "kafka_2.13-*.jar", f"Apache Kafka {version}", progress,
                                " or pass --kafka-home pointing at an unpacked Apache Kafka")


def kafka_classpath(kafka_home: str | None, version: str, progress) -> str:
    if kafka_home:
        libs = Path(kafka_home).expanduser() / "libs"
        if not any(libs.glob("kafka_*.jar")):
            raise UsageError(
                f"--kafka-home {kafka_home} is not an unpacked Apache Kafka distribution "
                "(no libs/kafka_*.jar); unpack one or omit --kafka-home."
            )
    else:
        libs = resolve_kafka_jars(version, progress)
    return str(libs / "*")


def registry_artifact(version: str) -> str:
    return f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all"


def resolve_registry_app(version: str, progress=lambda msg: None) -> Path:
    """The unpacked Apicurio Registry app (quarkus-run.jar and its libs), fetched once with mvn.

    Maven Central serves the prebuilt app only as a tar.gz with classifier `all`."""
    import tarfile

    home = cache_root() / f"apicurio-registry-{version}"
    if (home / ".complete").exists():
        return home
    mvn = _find_mvn("fetching the Apicurio Registry")
    progress(f"fetching Apicurio Registry {version} (about 150 MB) from Maven Central (once)…")
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent) as tmp:
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={registry_artifact(version)}",
             f"-DoutputDirectory={tmp}"],
            cwd=tmp, capture_output=True, text=True,
        )
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise SandboxError(
                f"mvn could not fetch {registry_artifact(version)} ({' / '.join(tail)[:300]}); "
                "check the version and that Maven Central is reachable."
            )
        app = Path(tmp) / "app"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(app, filter="data")
        if not (app / "quarkus-run.jar").is_file():
            raise SandboxError(
                f"{archives[0].name} holds no quarkus-run.jar; it is not the Apicurio Registry "
                "app this sandbox knows how to run."
            )
        (app / ".complete").write_text(version)
        if home.exists():
            shutil.rmtree(home)
        app.rename(home)
    return home

