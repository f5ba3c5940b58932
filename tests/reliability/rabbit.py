"""A private RabbitMQ node for the reliability suite, from the machine's own rabbitmq-server.

The machine's broker (127.0.0.1:5672) is shared with other test runs; stopping it would
break them. This node is ours alone: its own node name, AMQP and distribution ports, its
own Erlang cookie (in a private HOME that `rabbitmqctl` uses too), its data, logs and pid
file under the test's temporary directory, no plugins. A case can then `stop_app` and
`start_app` it — what an operator does to restart a broker — without touching anyone else.

Ports: the CLI's own distribution listener takes one of 35672–35682 by default, so the
node's ports are picked outside that range, or `start_app` may find its port taken by the
very `rabbitmqctl` that asked for it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.harness import free_port

_CLI_DIST_PORTS = range(35672, 35683)
_CANDIDATE_SBINS = ("/usr/lib/rabbitmq/bin", "/usr/lib/rabbitmq/sbin", "/usr/local/sbin")


class RabbitUnavailable(Exception):
    """The private node could not be set up (no rabbitmq-server, or it did not boot)."""


def _sbin() -> Path:
    """The directory of the real rabbitmq-server and rabbitmqctl scripts.

    Not /usr/sbin's wrapper: run as root, that one re-runs the command as the `rabbitmq`
    user, whose HOME holds the shared broker's cookie, not ours.
    """
    given = os.environ.get("JIAOYING_TEST_RABBITMQ_SBIN")
    candidates = [given] if given else list(_CANDIDATE_SBINS)
    found = shutil.which("rabbitmq-server")
    if found and not given:
        candidates.append(str(Path(found).resolve().parent))
    for directory in candidates:
        path = Path(directory)
        server = path / "rabbitmq-server"
        if (
            server.exists()
            and (path / "rabbitmqctl").exists()
            and "script-wrapper" not in server.resolve().name
        ):
            return path
    raise RabbitUnavailable(
        f"no rabbitmq-server found in {candidates}; install RabbitMQ or set "
        "JIAOYING_TEST_RABBITMQ_SBIN to the directory of rabbitmq-server and rabbitmqctl"
    )


def _port_outside_cli_range() -> int:
    while True:
        port = free_port()
        if port not in _CLI_DIST_PORTS and port + 1 not in _CLI_DIST_PORTS:
            return port


@dataclass
class PrivateRabbit:
    """One RabbitMQ node of our own; `start()` it, `stop()` it at the end."""

    base: Path
    node: str = ""
    port: int = 0
    dist_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, within: float = 90.0) -> None:
        """Boot the node and wait until it accepts AMQP connections; RabbitUnavailable if
        it cannot."""
        sbin = _sbin()
        self.node = f"jiaoying-test-{secrets.token_hex(3)}@localhost"
        self.port = _port_outside_cli_range()
        self.dist_port = _port_outside_cli_range()
        home = self.base / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[].\n")
        self._sbin = sbin
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            # exec the VM in place of the script: the pid we hold is the broker's.
            "RUNNING_UNDER_SYSTEMD": "1",
        }
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(sbin / "rabbitmq-server")],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                start_new_session=True,
            )
        self._await_listener(within)

    def stop_app(self) -> None:
        """`rabbitmqctl stop_app`: the broker closes every connection and stops serving."""
        self._ctl("stop_app")

    def start_app(self, within: float = 60.0) -> None:
        """`rabbitmqctl start_app`, then wait until it accepts connections again."""
        self._ctl("start_app", timeout=within)
        self._await_listener(within)

    def queues(self) -> dict[str, tuple[int, int]]:
        """Queue name → (messages ready, messages delivered and not yet acknowledged)."""
        output = self._ctl(
            "list_queues",
            "-q",
            "--formatter",
            "json",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        return {
            row["name"]: (int(row["messages_ready"]), int(row["messages_unacknowledged"]))
            for row in json.loads(output or "[]")
        }

    def stop(self) -> None:
        """Stop the node for good (`rabbitmqctl stop`; the process is killed if that fails)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self._ctl("stop", timeout=30)
            self.process.wait(30)
        except (RabbitUnavailable, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(10)

    def _ctl(self, *args: str, timeout: float = 30.0) -> str:
        try:
            done = subprocess.run(
                [str(self._sbin / "rabbitmqctl"), "-n", self.node, *args],
                env=self._env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise RabbitUnavailable(f"rabbitmqctl {args[0]} took over {timeout} s") from error
        if done.returncode != 0:
            raise RabbitUnavailable(
                f"rabbitmqctl {args[0]} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-800:]}"
            )
        return done.stdout.decode()

    def _await_listener(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RabbitUnavailable(f"the private node exited: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RabbitUnavailable(f"the private node did not listen within {within} s")

    def _log_tail(self) -> str:
        log = self.base / "server.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
