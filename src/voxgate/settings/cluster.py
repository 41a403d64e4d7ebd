"""Cluster mode: several nodes sharing one Redis (``docs/cluster.md``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ClusterSettings(BaseSettings):
    """Redis, this node's identity in the cluster, and how it drains."""

    redis_url: str | None = Field(
        None,
        description="Cluster mode (docs/cluster.md): the Redis every node shares "
        "(`redis://host:6379/0`), for where each session lives, commands between nodes and "
        "limits across them; none: one node, no Redis.",
    )
    node_url: str | None = Field(
        None,
        description="Cluster mode: the base URL clients reach this node at (`http://10.0.0.5:8000`"
        "), named to clients of a session held here; default `http://{host}:{port}`.",
    )
    node_id: str | None = Field(
        None, description="Cluster mode: this node's id (default: host, port, process and time)."
    )
    cluster_prefix: str = Field(
        "voxgate", min_length=1, description="Cluster mode: the prefix of every Redis key."
    )
    cluster_heartbeat_s: float = Field(
        2.0, gt=0, description="Cluster mode: seconds between a node's heartbeats."
    )
    cluster_node_ttl_s: float = Field(
        6.0,
        gt=0,
        description="Cluster mode: a node silent this long is dead; its sessions are released "
        "and may be resumed on another node.",
    )
    cluster_command_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Cluster mode: how long a node waits for the node holding a session to "
        "answer a forwarded command (mute, remove, end) before it answers 504.",
    )
    drain_seconds: float = Field(
        30.0,
        ge=0,
        description="Cluster mode: on SIGTERM, how long the node's live sessions may go on (their "
        "clients told `voxgate.session.draining`) before they are ended and the node exits.",
    )
    events_url: str | None = Field(
        None,
        description="The analytics / audit stream (docs/cluster.md): a Redis (`redis://host:6379/"
        "0`, often the cluster's) whose stream gets every session's conversation and turn "
        "events; none: no export.",
    )
    events_stream: str = Field(
        "voxgate:events", min_length=1, description="The Redis stream the events are added to."
    )
    events_maxlen: int = Field(
        1_000_000,
        ge=1,
        description="About how many entries the event stream keeps (`XADD MAXLEN ~`): the "
        "oldest go first.",
    )
