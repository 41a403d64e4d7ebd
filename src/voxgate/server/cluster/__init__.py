"""Cluster mode: several voxgate nodes behind one Redis (``redis_url``); one node needs none of it.

``registry.Cluster`` is the shared registry (nodes, which node holds which session, commands
between nodes); ``node.ClusterNode`` is a gateway's use of it (claims, answers for sessions held
elsewhere, commands forwarded to the owner, draining).
"""

from voxgate.server.cluster.registry import Cluster, Command, Node, OwnerLimit, default_node_id

__all__ = ["Cluster", "Command", "Node", "OwnerLimit", "default_node_id"]
