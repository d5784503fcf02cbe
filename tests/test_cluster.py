"""A real two-node Ray cluster on this machine: ``ray start`` a head and a worker node, train through it.

Both nodes bind to 127.0.0.1 with one CPU each, so a 2-member population (two Tune trials of one
CPU) can only run if both nodes take one, and a run with a remote env runner places that actor
on either. Ray 2.60 authenticates nodes and drivers with a token: head, worker and every driver
get ``RAY_AUTH_MODE=token`` and the same ``RAY_AUTH_TOKEN`` (a fresh random one, so this cluster
never uses or overwrites ``~/.ray/auth_token``), otherwise the worker node and the driver are
rejected ("Missing authorization header", "InvalidAuthToken").

Other Ray instances may run on the machine at the same time (other test sessions): every port
is a free one picked here, the nodes live in their own temp dir, and the finalizer stops exactly
the processes of this cluster (the two ``ray start --block`` processes, then any process left
whose command line names this cluster's temp dir) - never ``ray stop``, which stops every Ray
on the machine.

Where work ran is read from the GCS actor table (``ray._private.state.actors``, Ray's state API
without the dashboard; ``ray.util.state`` needs the dashboard, i.e. ``ray[default]``'s aiohttp,
which the project does not install). Slow (1-3 minutes): ``pytest -m slow tests/test_cluster.py -s``
prints the nodes and the actors of each run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NODE_START_TIMEOUT_S = 180
OBJECT_STORE_BYTES = 200 * 1024 * 1024
WORKER_PORTS_PER_NODE = 40
PORTS_PER_NODE = 6  # node manager, object manager, dashboard agent (listen, grpc), runtime env agent, metrics

TINY_MAPPO = {
    "algorithm": "mappo",
    "env": "stag_hunt",
    "env_config": {"horizon": 5},
    "seed": 0,
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "training": {"train_batch_size": 40, "num_epochs": 1, "hidden_sizes": [8]},
}

# run in a driver process of the cluster: nodes and actors as JSON
STATE_SCRIPT = """
import json, ray
from ray._private.state import actors
ray.init(address={address!r}, logging_level="ERROR", log_to_driver=False)
nodes = [{{"node_id": n["NodeID"], "alive": n["Alive"], "cpus": n["Resources"].get("CPU", 0)}} for n in ray.nodes()]
acts = [{{"class": a["ActorClassName"], "node_id": a["Address"]["NodeID"], "state": a["State"], "job": a["JobID"]}}
        for a in actors().values()]
print("STATE " + json.dumps({{"nodes": nodes, "actors": acts}}))
"""


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (sockets held open until all are picked)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def free_port_range(width: int, taken: set[int]) -> int:
    """The first of ``width`` consecutive free ports below the OS's ephemeral range (where the
    ports of ``free_ports`` come from) and above Ray's default worker ports (other local Rays)."""
    low_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = secrets.SystemRandom()
    for _ in range(200):
        start = rng.randrange(20000, low_ephemeral - width)
        if taken & set(range(start, start + width)):
            continue
        try:
            with ExitStack() as stack:
                for port in range(start, start + width):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
            taken.update(range(start, start + width))
            return start
        except OSError:
            continue
    raise RuntimeError(f"no {width} consecutive free ports found")


class LocalCluster:
    """A head and a worker node started with ``ray start --block``; ``stop()`` ends only them."""

    def __init__(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="dm-ray-", dir="/tmp")  # short: Ray's socket paths
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": str(ROOT),
        }
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        ports = free_ports(1 + 2 * PORTS_PER_NODE)  # picked together: all distinct
        self.gcs_port = ports[0]
        self.node_ports = [ports[1 + i * PORTS_PER_NODE : 1 + (i + 1) * PORTS_PER_NODE] for i in range(2)]
        self.worker_ports: set[int] = set()  # the worker port ranges of both nodes (kept apart)
        self.address = f"127.0.0.1:{self.gcs_port}"

    def _node_args(self, index: int) -> list[str]:
        node_manager, object_manager, agent_listen, agent_grpc, runtime_env, metrics = self.node_ports[index]
        first = free_port_range(WORKER_PORTS_PER_NODE, self.worker_ports)
        return [
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--node-manager-port={node_manager}",
            f"--object-manager-port={object_manager}",
            f"--dashboard-agent-listen-port={agent_listen}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env}",
            f"--metrics-export-port={metrics}",
            f"--min-worker-port={first}",
            f"--max-worker-port={first + WORKER_PORTS_PER_NODE - 1}",
            "--disable-usage-stats",
            "--block",
        ]

    def _start(self, name: str, args: list[str]) -> None:
        log = Path(self.temp_dir) / f"{name}.log"
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", *args]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append((name, proc, log))
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Ray runtime started" in text:
                return
            if proc.poll() is not None:
                raise RuntimeError(f"ray start ({name}) exited with {proc.returncode}:\n{text[-3000:]}")
            time.sleep(1)
        raise RuntimeError(f"ray start ({name}) not up after {NODE_START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")

    def start(self) -> None:
        self._start(
            "head",
            [
                "--head",
                f"--port={self.gcs_port}",
                f"--temp-dir={self.temp_dir}",
                "--include-dashboard=false",
                *self._node_args(0),
            ],
        )
        self._start("worker", [f"--address={self.address}", *self._node_args(1)])

    def run(self, args: list[str], timeout: float = 600, with_token: bool = True) -> subprocess.CompletedProcess:
        """A driver process joining this cluster (token auth in its environment unless ``with_token=False``)."""
        env = self.env if with_token else {k: v for k, v in self.env.items() if not k.startswith("RAY_AUTH_")}
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    def state(self) -> dict:
        out = self.run([sys.executable, "-c", STATE_SCRIPT.format(address=self.address)], timeout=120)
        lines = [line for line in out.stdout.splitlines() if line.startswith("STATE ")]
        assert lines, f"state query failed:\n{out.stderr[-3000:]}"
        return json.loads(lines[-1][len("STATE ") :])

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):  # worker first, then head
            if proc.poll() is None:
                proc.terminate()  # ray start --block stops its node's processes on SIGTERM
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in self._leftover_pids():  # anything of this cluster that outlived its node
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _leftover_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if self.temp_dir.encode() in cmdline:
                pids.append(int(entry.name))
        return pids


@pytest.fixture
def cluster():
    c = LocalCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()
        assert not c._leftover_pids(), "cluster processes survived stop()"


def train(
    cluster: LocalCluster, tmp_path: Path, name: str, with_token: bool = True, **overrides
) -> subprocess.CompletedProcess:
    """``diverse-marl train`` of a tiny MAPPO config with ``ray.address`` set to the cluster."""
    config = {
        **TINY_MAPPO,
        "name": name,
        "runs_dir": str(tmp_path / "runs"),
        "ray": {"address": cluster.address},
        **overrides,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = cluster.run([sys.executable, "-m", "diverse_marl", "train", str(path), "--quiet"], with_token=with_token)
    if with_token:
        assert out.returncode == 0, f"{name} failed:\nSTDOUT {out.stdout[-2000:]}\nSTDERR {out.stderr[-4000:]}"
    return out


def test_population_and_remote_env_runner_use_both_nodes(cluster, tmp_path):
    nodes = cluster.state()["nodes"]
    alive = {n["node_id"] for n in nodes if n["alive"]}
    assert len(alive) == 2 and all(n["cpus"] == 1 for n in nodes if n["alive"]), nodes

    t0 = time.monotonic()
    train(cluster, tmp_path, "cluster-pop", population={"size": 2, "max_concurrent": 2})
    pop_s = time.monotonic() - t0
    after_pop = cluster.state()["actors"]
    pop_nodes = {a["node_id"] for a in after_pop}
    print(
        f"\nnodes: {sorted(alive)}\npopulation ({pop_s:.0f}s) actors: "
        + ", ".join(sorted(f"{a['class']}@{a['node_id'][:8]}" for a in after_pop))
    )
    assert pop_nodes == alive, f"the two members did not run on both nodes: {after_pop}"
    members = sorted(p.name for p in (tmp_path / "runs").glob("cluster-pop*/member_*"))
    assert len(members) == 2, list((tmp_path / "runs").rglob("*"))

    t0 = time.monotonic()
    train(cluster, tmp_path, "cluster-remote-runner", num_env_runners=1)
    run_s = time.monotonic() - t0
    new = [a for a in cluster.state()["actors"] if a not in after_pop]
    print(f"remote env runner run ({run_s:.0f}s) actors: " + ", ".join(f"{a['class']}@{a['node_id'][:8]}" for a in new))
    runners = [a for a in new if a["class"].endswith("EnvRunner")]
    assert runners and all(a["node_id"] in alive for a in runners), new
    metrics = list((tmp_path / "runs").glob("cluster-remote-runner*/metrics.jsonl"))
    assert metrics and len(metrics[0].read_text().strip().splitlines()) == 2

    # a driver without the token is turned away with one line naming what to set
    out = train(cluster, tmp_path, "cluster-no-token", with_token=False)
    last = out.stderr.strip().splitlines()[-1]
    print(f"driver without token: exit {out.returncode}: {last}")
    assert out.returncode == 2 and "RAY_AUTH_MODE=token" in last and "Traceback" not in out.stderr, out.stderr[-3000:]
