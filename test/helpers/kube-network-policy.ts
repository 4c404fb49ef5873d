import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyPeer } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer";
import type { INetworkPolicyPort } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort";
import { matchesLabelSelector } from "./kube-apiserver/selectors.js";

/**
 * Whether a connection is allowed under a set of NetworkPolicies, by the rules of
 * https://kubernetes.io/docs/concepts/services-networking/network-policies/ :
 * - a pod is isolated for ingress (egress) when a policy of its namespace selects it with Ingress
 *   (Egress) in policyTypes; policyTypes defaults to Ingress, plus Egress when the policy has egress
 *   rules. A pod no policy isolates accepts (sends) everything;
 * - policies are additive: a connection is allowed when the source may send it (not isolated for
 *   egress, or one egress rule of a policy selecting it matches the destination and port) and the
 *   destination may receive it (likewise with ingress rules); a rule with no peers matches every
 *   peer, one with no ports every port;
 * - a peer's podSelector alone selects pods of the policy's own namespace, a namespaceSelector alone
 *   every pod of the namespaces it selects, both in one peer the pods matching both; an ipBlock
 *   matches addresses outside the cluster (IPv4 here) in its cidr and none of its except ranges;
 * - a port is a number (with endPort, a range) or the name of a container port of the destination
 *   pod; the protocol defaults to TCP.
 * It is what a NetworkPolicy controller (Calico, Cilium, ...) enforces; without one nothing is.
 * Not modelled: ipBlocks matching pod addresses (implementation-defined), IPv6, SCTP specifics.
 */

export interface PodEndpoint {
  namespace: string;
  labels: Record<string, string>;
  /** Container ports, for named ports in rules. */
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
}

/** An address outside the cluster: the API server's, a git server's, a DNS resolver's. */
export interface ExternalEndpoint {
  ip: string;
}

export type Endpoint = PodEndpoint | ExternalEndpoint;

export interface Connection {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol?: "TCP" | "UDP" | "SCTP";
}

export interface Cluster {
  policies: readonly INetworkPolicy[];
  /** Namespace labels by name; kubernetes.io/metadata.name is added, as the API server does. */
  namespaces: Readonly<Record<string, Record<string, string>>>;
}

function isPod(endpoint: Endpoint): endpoint is PodEndpoint {
  return "namespace" in endpoint;
}

function namespaceLabels(cluster: Cluster, name: string): Record<string, string> {
  return { ...cluster.namespaces[name], "kubernetes.io/metadata.name": name };
}

function policyTypes(policy: INetworkPolicy): string[] {
  return policy.spec?.policyTypes ?? ["Ingress", ...(policy.spec?.egress !== undefined ? ["Egress"] : [])];
}

function selecting(cluster: Cluster, pod: PodEndpoint, type: "Ingress" | "Egress"): INetworkPolicy[] {
  return cluster.policies.filter((policy) => (policy.metadata?.namespace ?? "default") === pod.namespace && policyTypes(policy).includes(type) && matchesLabelSelector(policy.spec?.podSelector ?? {}, pod.labels));
}

function ipv4(text: string): number {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) throw new Error(`"${text}" is not an IPv4 address`);
  return parts.reduce((value, part) => value * 256 + part, 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = "", bits = "32"] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipv4(base) / size) * size;
  const address = ipv4(ip);
  return address >= start && address < start + size;
}

function peerMatches(cluster: Cluster, policyNamespace: string, peer: INetworkPolicyPeer, endpoint: Endpoint): boolean {
  if (peer.ipBlock) return !isPod(endpoint) && inCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((range) => inCidr(endpoint.ip, range));
  if (!isPod(endpoint)) return false;
  const namespaceOk = peer.namespaceSelector ? matchesLabelSelector(peer.namespaceSelector, namespaceLabels(cluster, endpoint.namespace)) : endpoint.namespace === policyNamespace;
  const podOk = peer.podSelector ? matchesLabelSelector(peer.podSelector, endpoint.labels) : true;
  return namespaceOk && podOk;
}

function portMatches(rulePort: INetworkPolicyPort, connection: Connection): boolean {
  const protocol = connection.protocol ?? "TCP";
  if ((rulePort.protocol ?? "TCP") !== protocol) return false;
  if (rulePort.port === undefined) return true;
  if (typeof rulePort.port === "number") return connection.port >= rulePort.port && connection.port <= (rulePort.endPort ?? rulePort.port);
  const { to } = connection;
  // A named port is a port of the destination pod; an address outside the cluster has no names.
  return isPod(to) && (to.ports ?? []).some((port) => port.name === rulePort.port && port.containerPort === connection.port && (port.protocol ?? "TCP") === protocol);
}

function ruleAllows(cluster: Cluster, policyNamespace: string, rule: { peers?: INetworkPolicyPeer[]; ports?: INetworkPolicyPort[] }, peer: Endpoint, connection: Connection): boolean {
  const peerOk = rule.peers === undefined || rule.peers.length === 0 || rule.peers.some((candidate) => peerMatches(cluster, policyNamespace, candidate, peer));
  const portOk = rule.ports === undefined || rule.ports.length === 0 || rule.ports.some((port) => portMatches(port, connection));
  return peerOk && portOk;
}

/** Whether the source may send the connection and the destination may receive it. */
export function connectionAllowed(cluster: Cluster, connection: Connection): boolean {
  const { from, to } = connection;
  if (isPod(from)) {
    const policies = selecting(cluster, from, "Egress");
    const sends =
      policies.length === 0 ||
      policies.some((policy) => (policy.spec?.egress ?? []).some((rule) => ruleAllows(cluster, from.namespace, { peers: rule.to, ports: rule.ports }, to, connection)));
    if (!sends) return false;
  }
  if (isPod(to)) {
    const policies = selecting(cluster, to, "Ingress");
    return (
      policies.length === 0 ||
      policies.some((policy) => (policy.spec?.ingress ?? []).some((rule) => ruleAllows(cluster, to.namespace, { peers: rule.from, ports: rule.ports }, from, connection)))
    );
  }
  return true;
}
