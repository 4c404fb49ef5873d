import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicySpec } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicySpec";
import { connectionAllowed, type Cluster, type Connection, type PodEndpoint } from "../../helpers/kube-network-policy.js";

/**
 * The NetworkPolicy evaluator the manifests test relies on, against the rules and examples of
 * https://kubernetes.io/docs/concepts/services-networking/network-policies/ : isolation, the
 * additive union of policies, the two peer forms (namespaceSelector and podSelector in one element,
 * or in two), policyTypes defaults, named ports, port ranges and ipBlock with except.
 */

const policy = (name: string, namespace: string, spec: INetworkPolicySpec): INetworkPolicy => ({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace }, spec });
const db: PodEndpoint = { namespace: "prod", labels: { role: "db" }, ports: [{ name: "postgres", containerPort: 5432 }] };
const frontend: PodEndpoint = { namespace: "prod", labels: { role: "frontend" } };
const client: PodEndpoint = { namespace: "myproject", labels: { role: "client" } };
const stranger: PodEndpoint = { namespace: "myproject", labels: { role: "other" } };
const namespaces = { myproject: { project: "myproject" }, prod: {} };
const allowed = (policies: INetworkPolicy[], connection: Connection) => connectionAllowed({ policies, namespaces } satisfies Cluster, connection);

describe("connectionAllowed", () => {
  test("a pod no policy selects sends and receives everything; one selected for ingress receives only what a rule allows", () => {
    assert.equal(allowed([], { from: stranger, to: db, port: 5432 }), true);
    const onlyFrontend = policy("db", "prod", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }] }] });
    assert.equal(allowed([onlyFrontend], { from: frontend, to: db, port: 5432 }), true);
    assert.equal(allowed([onlyFrontend], { from: stranger, to: db, port: 5432 }), false, "a podSelector alone selects pods of the policy's namespace");
    assert.equal(allowed([onlyFrontend], { from: db, to: frontend, port: 80 }), true, "frontend is not isolated");
    // policyTypes defaults to Ingress only: the policy leaves db's egress open.
    assert.equal(allowed([onlyFrontend], { from: db, to: { ip: "198.51.100.7" }, port: 443 }), true);
  });

  test("policies add up, and a policy with no rules for a type it names isolates that direction", () => {
    const denyAll = policy("deny", "prod", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    const open = policy("open", "prod", { podSelector: { matchLabels: { role: "db" } }, ingress: [{}] });
    assert.equal(allowed([denyAll], { from: frontend, to: db, port: 5432 }), false);
    assert.equal(allowed([denyAll, open], { from: client, to: db, port: 5432 }), true, "an empty rule allows every source and port");
    assert.equal(allowed([denyAll, open], { from: frontend, to: db, port: 5432 }), false, "frontend's egress is still denied");
    const egressDefault = policy("egress", "prod", { podSelector: { matchLabels: { role: "frontend" } }, egress: [{ ports: [{ port: 53, protocol: "UDP" }] }] });
    assert.equal(allowed([egressDefault], { from: frontend, to: { ip: "10.0.0.10" }, port: 53, protocol: "UDP" }), true, "policyTypes defaults to Egress too when egress rules are present");
    assert.equal(allowed([egressDefault], { from: frontend, to: { ip: "10.0.0.10" }, port: 53, protocol: "TCP" }), false);
  });

  test("namespaceSelector and podSelector in one peer select both; in two peers, either", () => {
    const both = policy("both", "prod", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { project: "myproject" } }, podSelector: { matchLabels: { role: "client" } } }] }] });
    assert.equal(allowed([both], { from: client, to: db, port: 5432 }), true);
    assert.equal(allowed([both], { from: stranger, to: db, port: 5432 }), false);
    const either = policy("either", "prod", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { project: "myproject" } } }, { podSelector: { matchLabels: { role: "client" } } }] }] });
    assert.equal(allowed([either], { from: stranger, to: db, port: 5432 }), true, "any pod of myproject");
    assert.equal(allowed([either], { from: { namespace: "other", labels: { role: "client" } }, to: db, port: 5432 }), false, "a client of another namespace is not in prod");
    const byName = policy("by-name", "prod", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["myproject"] }] } }] }] });
    assert.equal(allowed([byName], { from: stranger, to: db, port: 5432 }), true, "every namespace carries kubernetes.io/metadata.name");
  });

  test("ports: numbers, ranges, names of the destination's container ports, and protocols", () => {
    const ports = (entries: NonNullable<INetworkPolicySpec["ingress"]>[number]["ports"]) => [policy("ports", "prod", { podSelector: {}, ingress: [{ ports: entries }] })];
    assert.equal(allowed(ports([{ port: "postgres" }]), { from: frontend, to: db, port: 5432 }), true);
    assert.equal(allowed(ports([{ port: "postgres" }]), { from: frontend, to: db, port: 5433 }), false);
    assert.equal(allowed(ports([{ port: "postgres", protocol: "UDP" }]), { from: frontend, to: db, port: 5432 }), false);
    assert.equal(allowed(ports([{ port: 32000, endPort: 32768 }]), { from: frontend, to: db, port: 32768 }), true);
    assert.equal(allowed(ports([{ port: 32000, endPort: 32768 }]), { from: frontend, to: db, port: 32769 }), false);
    assert.equal(allowed(ports([{ protocol: "TCP" }]), { from: frontend, to: db, port: 1 }), true, "a protocol without a port is every port");
  });

  test("ipBlock: a cidr minus its except ranges, for addresses outside the cluster", () => {
    const egress = [policy("out", "prod", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "172.17.0.0/16", except: ["172.17.1.0/24"] } }] }] })];
    assert.equal(allowed(egress, { from: db, to: { ip: "172.17.0.9" }, port: 443 }), true);
    assert.equal(allowed(egress, { from: db, to: { ip: "172.17.1.9" }, port: 443 }), false);
    assert.equal(allowed(egress, { from: db, to: { ip: "172.18.0.9" }, port: 443 }), false);
    assert.equal(allowed(egress, { from: db, to: frontend, port: 443 }), false, "an ipBlock does not select pods here");
  });
});
