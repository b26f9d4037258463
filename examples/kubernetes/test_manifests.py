"""The Kubernetes example's manifests parse, agree with each other, and the seed list
they serve makes the intended ring: three racks, each a full ring of its StatefulSet's
three pods, the same tokens in every rack, every pod its own configuration.

Run with the suite (tests/unit/test_examples.py) or alone:
``python -m twisted.trial examples/kubernetes/test_manifests.py``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import yaml
from twisted.trial import unittest

from dynotwist.config import parse_config
from dynotwist.core.hashkit import get_hash
from dynotwist.core.membership import Membership, local_member, member_of, parse_seed_list
from dynotwist.core.router import Router

MANIFESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dynotwist.yaml")
TOKENS = (0, 1431655765, 2863311530)


def documents() -> List[Dict[str, Any]]:
    with open(MANIFESTS, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def of_kind(kind: str) -> List[Dict[str, Any]]:
    return [doc for doc in documents() if doc["kind"] == kind]


def named(kind: str, name: str) -> Dict[str, Any]:
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


def container(statefulset: Dict[str, Any], name: str) -> Dict[str, Any]:
    (found,) = [c for c in statefulset["spec"]["template"]["spec"]["containers"]
                if c["name"] == name]
    return found


class KubernetesManifestTests(unittest.TestCase):
    def setUp(self) -> None:
        self.statefulsets = of_kind("StatefulSet")
        self.namespace = named("Namespace", "dynotwist")["metadata"]["name"]
        self.service = next(s for s in of_kind("Service") if s["spec"].get("clusterIP") == "None")
        self.seeds = parse_seed_list(named("ConfigMap", "dynotwist-seeds")["data"]["get_seeds"])
        self.configs = named("ConfigMap", "dynotwist-config")["data"]

    def pods(self) -> List[str]:
        return ["%s-%d" % (s["metadata"]["name"], i)
                for s in self.statefulsets for i in range(s["spec"]["replicas"])]

    def dns_name(self, pod: str) -> str:
        return "%s.%s.%s.svc.cluster.local" % (
            pod, self.service["metadata"]["name"], self.namespace)

    def test_one_statefulset_per_rack_under_the_headless_service(self) -> None:
        racks = []
        for statefulset in self.statefulsets:
            spec = statefulset["spec"]
            self.assertEqual(spec["serviceName"], self.service["metadata"]["name"])
            labels = spec["template"]["metadata"]["labels"]
            self.assertEqual(spec["selector"]["matchLabels"], labels)
            self.assertEqual(labels["app"], self.service["spec"]["selector"]["app"])
            racks.append(labels["rack"])
            node = container(statefulset, "dynotwist")
            self.assertEqual(node["readinessProbe"]["httpGet"], {"path": "/ready", "port": 22222})
            env = {e["name"]: e["value"] for e in node["env"]}
            seeds_service = named("Service", "dynotwist-seeds")
            self.assertEqual(env["DYNOMITE_FLORIDA_IP"], "%s.%s.svc.cluster.local" % (
                seeds_service["metadata"]["name"], self.namespace))
            self.assertEqual(int(env["DYNOMITE_FLORIDA_PORT"]),
                             seeds_service["spec"]["ports"][0]["port"])
        self.assertEqual(racks, ["rack1", "rack2", "rack3"])

    def test_the_seed_endpoint_serves_the_list_where_florida_asks(self) -> None:
        deployment = named("Deployment", "dynotwist-seeds")
        (seeds,) = deployment["spec"]["template"]["spec"]["containers"]
        (mount,) = seeds["volumeMounts"]
        served = os.path.join(mount["mountPath"], "get_seeds")
        self.assertEqual(served, "/srv/REST/v1/admin/get_seeds")
        self.assertEqual(seeds["command"][-1], "/srv")

    def test_every_pod_has_a_configuration_matching_its_seed(self) -> None:
        by_host = {seed.host: seed for seed in self.seeds}
        self.assertEqual(sorted(by_host), sorted(self.dns_name(p) for p in self.pods()))
        self.assertEqual(sorted(self.configs), sorted(p + ".yml" for p in self.pods()))
        for pod in self.pods():
            config = parse_config(self.configs[pod + ".yml"], pod + ".yml")
            seed = by_host[self.dns_name(pod)]
            self.assertEqual((config.rack, config.datacenter, config.tokens),
                             (seed.rack, seed.dc, seed.tokens), pod)
            self.assertEqual(config.dyn_listen.port, seed.port)
            self.assertEqual(config.stats_listen.port, 22222)
            self.assertEqual(config.dyn_seed_provider, "florida_provider")

    def test_the_seeds_make_the_intended_ring_for_every_pod(self) -> None:
        members = [member_of(seed) for seed in self.seeds]
        for pod in self.pods():
            config = parse_config(self.configs[pod + ".yml"], pod + ".yml")
            ring = Membership(local_member(config), members)
            self.assertEqual(len(ring.peers), 8, pod)  # its own seed is itself
            topology = ring.topology()
            self.assertEqual(topology.racks_of("dc1"), ["rack1", "rack2", "rack3"])
            for rack in ("rack1", "rack2", "rack3"):
                self.assertEqual(topology.rack_ring("dc1", rack).tokens, list(TOKENS))
            router = Router(topology, get_hash(config.hash))
            for key in (b"a", b"user:1", b"session:42"):
                owners = topology.owners("dc1", router.token(key))
                # the pods of one ordinal own a key, one in every rack
                self.assertEqual(len(owners), 3)
                self.assertEqual(len({o.tokens for o in owners}), 1, key)
