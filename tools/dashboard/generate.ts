// `npm run dashboard`: writes the Grafana dashboard that tools/dashboard/faceops-dashboard.ts builds
// to k8s/monitoring/faceops-dashboard.json, the file the monitoring kustomization puts in a ConfigMap.
// test/delivery/monitoring/dashboard.test.ts fails until the committed file matches the builder again.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { faceopsDashboard } from "./faceops-dashboard.js";

const target = fileURLToPath(new URL("../../k8s/monitoring/faceops-dashboard.json", import.meta.url));
await writeFile(target, `${JSON.stringify(faceopsDashboard(), null, 2)}\n`);
console.log(`wrote ${target}`);
