"""The sandbox's processes: launched in their own session with output to a log, recognised
by the data dir on their command line, ended as a group; free loopback ports; HTTP readiness."""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import SandboxError

LOG4J2 = """\
status = error
appender.file.type = Console
appender.file.name = OUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""

# The same for Kafka 3, which logs through reload4j (log4j 1): -Dlog4j.configuration=file:…
LOG4J1 = """\
log4j.rootLogger=INFO, OUT
log4j.appender.OUT=org.apache.log4j.ConsoleAppender
log4j.appender.OUT.layout=org.apache.log4j.PatternLayout
log4j.appender.OUT.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
"""


def logging_flag(data_dir: Path, stem: str, log4j2: bool, levels: dict[str, str] | None = None
                 ) -> str:
    """Write a logging config (to the process's output, hence its log) into the data dir, in
    the syntax its Kafka version reads (log4j2 for Kafka 4, log4j 1 for Kafka 3), and return
    the JVM flag that names it. levels: more logger name -> level."""
    levels = levels or {}
    if log4j2:
        path = data_dir / f"{stem}log4j2.properties"
        path.write_text(LOG4J2 + "".join(
            f"logger.l{i}.name = {name}\nlogger.l{i}.level = {level}\n"
            for i, (name, level) in enumerate(levels.items())))
        return f"-Dlog4j2.configurationFile={path}"
    path = data_dir / f"{stem}log4j.properties"
    path.write_text(LOG4J1 + "".join(f"log4j.logger.{name}={level}\n"
                                     for name, level in levels.items()))
    return f"-Dlog4j.configuration=file:{path}"


def alive(pid: int | None, marker: str) -> bool:
    """True when pid is a live (not zombie) process whose command line contains marker."""
    if not pid:
        return False
    for attempt in range(3):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        if state in ("Z", "X"):
            return False
        if marker in cmdline:
            return True
        # A live process whose command line reads empty (seen on a loaded machine while a
        # JVM starts): look again before calling it gone, or start-up fails for nothing.
        if cmdline.strip():
            return False
        time.sleep(0.05 * (attempt + 1))
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(pid: int, marker: str, grace: float = 30.0) -> None:
    if not alive(pid, marker):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, marker):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        _reap(pid)
        if not alive(pid, marker):
            return
        time.sleep(0.1)


_LOWEST_PICKED_PORT = 20000


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range when it can be: a
    JVM binds its port seconds after it was picked, and in between any outgoing connection
    may take an ephemeral port."""
    below = _ephemeral_range_start()
    picker = random.SystemRandom()
    for _ in range(100 if below > _LOWEST_PICKED_PORT else 0):
        port = picker.randrange(_LOWEST_PICKED_PORT, below)
        if port_bindable(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def startup_error(log: Path, offset: int) -> str | None:
    """The last error line a process logged since its launch (the log's length then)."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    errors = [line.split(" ERROR ", 1)[-1].strip() for line in text.splitlines()
              if " ERROR " in line or line.startswith("Error")]
    return errors[-1][:300] if errors else None


def launch(argv: list[str], data_dir: Path, log: Path) -> int:
    """A process in its own session (so stop can end its whole group), output to its log."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=data_dir)
    return proc.pid


def wait_http(info: dict, data_dir: Path, what: str, deadline: float) -> None:
    """Wait until the component's probe URL answers 200."""
    import urllib.error
    import urllib.request  # here, not at the top: `ingestctl --help` stays fast

    # Loopback only: never through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    log = Path(info["log"])
    while True:
        if not alive(info["pid"], str(data_dir)):
            error = startup_error(log, info["log_offset"])
            raise SandboxError(f"{what} exited during start-up"
                               + (f" ({error})" if error else "") + f"; see its log {log}.")
        try:
            with opener.open(info["probe"], timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise SandboxError(
                f"{what} did not answer at {info['probe']} in time; see its log {log}.")
        time.sleep(0.2)

