"""What a set of NetworkPolicies allows, computed the way the API documents it.

A pod that no policy selects for a direction is open in that direction; a selected pod accepts
only what one of the rules selecting it allows. A connection needs both the source's egress and
the destination's ingress. ``ipBlock`` peers match addresses (here: any endpoint's address,
pods included, which is the permissive reading); selector peers match pods only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.charts.helm import selects


@dataclass(frozen=True)
class Endpoint:
    """A pod (with a namespace) or an address outside the cluster (namespace None)."""

    name: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # (protocol, number) -> port name, for the ports this endpoint listens on.
    ports: Mapping[tuple[str, int], str] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


@dataclass
class World:
    namespaces: Mapping[str, Mapping[str, str]]
    policies: Sequence[Mapping[str, Any]]

    def _selecting(self, pod: Endpoint, direction: str) -> list[Mapping[str, Any]]:
        chosen = []
        for policy in self.policies:
            spec = policy["spec"]
            types = spec.get("policyTypes") or (
                ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
            )
            if (
                pod.is_pod
                and policy["metadata"]["namespace"] == pod.namespace
                and direction in types
                and selects(spec.get("podSelector"), pod.labels)
            ):
                chosen.append(policy)
        return chosen

    def _peer_matches(self, peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            address = ipaddress.ip_address(other.ip)
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
        if not other.is_pod:
            return False
        assert other.namespace is not None
        if "namespaceSelector" in peer:
            ns_labels = self.namespaces[other.namespace]
            if not selects(peer["namespaceSelector"], ns_labels):
                return False
        elif other.namespace != policy_ns:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], other.labels)

    @staticmethod
    def _port_matches(
        ports: Iterable[Mapping[str, Any]] | None, target: Endpoint, protocol: str, number: int
    ) -> bool:
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            port = entry.get("port")
            if port is None:
                return True
            if isinstance(port, str):
                if target.ports.get((protocol, number)) == port:
                    return True
            elif port <= number <= int(entry.get("endPort", port)):
                return True
        return False

    def _allows(
        self, direction: str, pod: Endpoint, other: Endpoint, target: Endpoint, proto: str, n: int
    ) -> bool:
        policies = self._selecting(pod, direction)
        if not policies:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                namespace = policy["metadata"]["namespace"]
                if (
                    not peers or any(self._peer_matches(p, namespace, other) for p in peers)
                ) and self._port_matches(rule.get("ports"), target, proto, n):
                    return True
        return False

    def allowed(self, source: Endpoint, target: Endpoint, protocol: str, number: int) -> bool:
        """Whether a new connection from ``source`` to ``target``'s port is allowed."""
        egress = not source.is_pod or self._allows(
            "Egress", source, target, target, protocol, number
        )
        ingress = not target.is_pod or self._allows(
            "Ingress", target, source, target, protocol, number
        )
        return egress and ingress

    def matrix(self, endpoints: Sequence[Endpoint]) -> set[tuple[str, str, str]]:
        """Every allowed (source, target, "proto/port") between distinct endpoints."""
        allowed = set()
        for source in endpoints:
            for target in endpoints:
                if source is target:
                    continue
                for protocol, number in target.ports:
                    if self.allowed(source, target, protocol, number):
                        allowed.add((source.name, target.name, f"{protocol}/{number}"))
        return allowed
