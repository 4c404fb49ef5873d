#!/usr/bin/env node
// tsc compiles TypeScript only; the web page the service serves is plain HTML and is copied as is.
import { cpSync } from "node:fs";

cpSync("src/serve/page", "dist/serve/page", { recursive: true });
