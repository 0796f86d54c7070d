"""A NATS JetStream cluster of embedded `nats-server` nodes on loopback (`ombudsman up --nats-cluster 3`)
and the replicas of the streams as JetStream reports them (`ombudsman status`, the fault suite).

Each node has its own store folder, client port and cluster port, routes to the others (authenticated
with a route password of its own, kept in `<OMB_HOME>/nats/cluster-route.key`) and the same client
`authorization` block as the single embedded node (`natsauth.write_server_config`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ombudsman.eventstore.embedded import EmbeddedNats, free_port
from ombudsman.eventstore.natsauth import write_private
from ombudsman.eventstore.roles import read_or_create_secret

CLUSTER_NAME = "ombudsman"
ROUTE_USER = "route"
ROUTE_SECRET_FILE = "cluster-route.key"
CLUSTER_SIZES = (1, 3, 5)  # Raft needs a majority: an even count adds a node without adding a tolerated loss


def node_name(index: int) -> str:
    """The server name of the cluster's `index`-th node (1-based): `nats-1`, `nats-2`, ..."""
    return f"nats-{index}"


def node_config(auth_config: Path, folder: Path, name: str, cluster_port: int, route_ports: list[int],
                route_password: str) -> Path:
    """Write one node's config (JSON is valid nats-server syntax): the clients' `authorization` block
    of `auth_config`, the server's name, and its cluster listener with routes to the other nodes."""
    config = json.loads(auth_config.read_text())
    config["server_name"] = name
    config["cluster"] = {
        "name": CLUSTER_NAME,
        "listen": f"127.0.0.1:{cluster_port}",
        "authorization": {"user": ROUTE_USER, "password": route_password},
        "routes": [f"nats-route://{ROUTE_USER}:{route_password}@127.0.0.1:{p}" for p in route_ports],
    }
    path = folder / f"{name}.conf"
    write_private(path, json.dumps(config, indent=2))
    return path


@dataclass
class NatsCluster:
    """The nodes of a running embedded cluster, in order."""

    nodes: dict[str, EmbeddedNats] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Every node's client URL, comma separated (what `OMB_NATS_URL` and `connect_nats` take)."""
        return ",".join(node.url for node in self.nodes.values())

    @property
    def pids(self) -> dict[str, int]:
        return {name: node.process.pid for name, node in self.nodes.items() if node.process}

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    @classmethod
    def start(cls, home_nats: Path, auth_config: Path, size: int, ports: list[int], *, detach: bool) -> NatsCluster:
        """Start `size` nodes under `home_nats/<node name>/`, their client ports `ports` (one per node).

        Returns once every node listens; `wait_jetstream` then waits for the cluster to elect its
        JetStream meta leader."""
        if size not in CLUSTER_SIZES:
            raise ValueError(f"a NATS cluster has 1, 3 or 5 nodes, not {size}")
        if len(ports) != size:
            raise ValueError(f"{size} client ports needed, {len(ports)} given")
        route_password = read_or_create_secret(home_nats / ROUTE_SECRET_FILE)
        cluster_ports = [free_port() for _ in range(size)]
        cluster = cls()
        try:
            for index in range(1, size + 1):
                name = node_name(index)
                others = [p for i, p in enumerate(cluster_ports, start=1) if i != index]
                config = node_config(auth_config, home_nats, name, cluster_ports[index - 1], others, route_password)
                cluster.nodes[name] = EmbeddedNats.start(home_nats / name, ports[index - 1], detach=detach,
                                                         config=config)
        except BaseException:
            cluster.stop()
            raise
        return cluster


async def wait_jetstream(url: str, user: str | None, password: str | None, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until JetStream answers through `url` (a cluster answers once it elected a meta leader)."""
    from ombudsman.eventstore.broker import connect_nats

    deadline = time.monotonic() + timeout
    nc = await connect_nats(url, name="omb-launcher", timeout=timeout, user=user, password=password)
    try:
        js = nc.jetstream()
        while True:
            try:
                await js.account_info()
                return
            except Exception as exc:  # 503 "JetStream system temporarily unavailable" until the election
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JetStream not ready after {timeout:.0f}s: {exc}") from None
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


@dataclass(frozen=True)
class Replica:
    """One follower of a stream: its server, whether it is current or offline, how many operations it
    is behind and how long ago its leader last heard from it."""

    name: str
    current: bool
    offline: bool
    lag: int
    seen_ago: float  # seconds

    def describe(self) -> str:
        if self.offline:
            return f"{self.name} offline"
        if self.current:
            return f"{self.name} current"
        return f"{self.name} lagging ({self.lag} behind, last seen {self.seen_ago:.1f} s ago)"


@dataclass(frozen=True)
class StreamReplicas:
    """A stream's configured replica count, its leader and followers (from JetStream's stream info)."""

    stream: str
    replicas: int  # 0 when the stream list named it as missing (its leader did not answer)
    messages: int
    leader: str | None
    followers: tuple[Replica, ...]

    def describe(self) -> str:
        """One line for `ombudsman status`."""
        followers = ", ".join(f.describe() for f in self.followers)
        # a server outside any cluster reports no cluster part for its streams
        if not self.replicas:  # named by the stream list, but its leader did not answer
            return f"{self.stream:<12} not answering (no stream leader)"
        where = f"leader {self.leader}" if self.leader else "no leader" if self.replicas > 1 else "single node"
        return f"{self.stream:<12} R{self.replicas}  {self.messages} messages  {where}" + (
            f"; followers {followers}" if followers else "")


async def stream_replicas(url: str, user: str | None, password: str | None,
                          timeout: float = 5.0, patience: float = 20.0) -> list[StreamReplicas]:  # noqa: ASYNC109
    """Every stream's replicas as JetStream reports them now. Asked again for up to `patience` seconds
    while the JetStream API does not answer or leaves streams out: right after a node dies the cluster
    elects a new meta leader and new stream leaders (a few seconds), and the stream list names the streams
    whose leader did not answer in `missing`; a status taken then should still show every stream. A stream
    still missing when patience runs out is shown with no leader rather than left out."""
    import nats.errors
    import nats.js.api

    from ombudsman.eventstore.broker import connect_nats

    nc = await connect_nats(url, name="omb-status", timeout=timeout, user=user, password=password, reconnect=False)
    try:
        deadline = time.monotonic() + patience
        listed: dict | None = None
        while True:
            try:
                reply = await nc.request("$JS.API.STREAM.LIST", b'{"offset": 0}', timeout=timeout)
                answer = json.loads(reply.data)
                if "error" not in answer:
                    listed = answer
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                pass
            if listed is not None and not listed.get("missing"):
                break
            if time.monotonic() >= deadline:
                if listed is None:
                    raise nats.errors.TimeoutError
                break
            await asyncio.sleep(0.5)  # an election under way: ask again
        found = []
        for info in (nats.js.api.StreamInfo.from_response(s) for s in listed.get("streams") or []):
            cluster = info.cluster
            found.append(StreamReplicas(
                stream=info.config.name or "?", replicas=info.config.num_replicas or 1,
                messages=info.state.messages, leader=cluster.leader if cluster else None,
                followers=tuple(Replica(p.name or "?", bool(p.current), bool(p.offline), int(p.lag or 0),
                                        (p.active or 0) / 1e9)
                                for p in (cluster.replicas or [])) if cluster else ()))
        found += [StreamReplicas(stream=name, replicas=0, messages=0, leader=None, followers=())
                  for name in listed.get("missing") or []]
        return sorted(found, key=lambda s: s.stream)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
