#!/usr/bin/env python3
"""Writes a large folder of manifests for the translation benchmark.

generate.py DIR [ROUTES] [BACKENDS]: one Gateway (an HTTP and an HTTPS-less
second HTTP listener), BACKENDS AI Backends (half OpenAI with inline keys,
half Azure OpenAI with a Secret each) and ROUTES HTTPRoutes spread over 100
hostnames, each with two rules (a PathPrefix to a Backend, and an Exact path
with a header match and a RequestHeaderModifier to a weighted pair of
Backends). One file per kind, as a large repository would have.
"""
import os
import sys

out = sys.argv[1]
routes = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
backends = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
os.makedirs(out, exist_ok=True)

with open(os.path.join(out, "gateway.yaml"), "w") as f:
    f.write("""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  gatewayClassName: llmgate
  listeners:
  - {name: http, protocol: HTTP, port: 8080, hostname: "*.example.com"}
  - {name: internal, protocol: HTTP, port: 8081}
""")

with open(os.path.join(out, "backends.yaml"), "w") as f:
    for i in range(backends):
        if i % 2 == 0:
            f.write(f"""---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: backend-{i}, namespace: bench}}
spec:
  type: AI
  ai: {{llm: {{openai: {{model: gpt-4o-mini, authToken: {{kind: Inline, inline: sk-{i:08d}}}}}}}}}
""")
        else:
            f.write(f"""---
apiVersion: v1
kind: Secret
metadata: {{name: key-{i}, namespace: bench}}
stringData: {{Authorization: key-{i:08d}}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: backend-{i}, namespace: bench}}
spec:
  type: AI
  ai:
    llm:
      azureopenai:
        endpoint: resource-{i}.openai.azure.com
        deploymentName: gpt-4o-mini
        apiVersion: 2024-10-21
        authToken: {{kind: SecretRef, secretRef: {{name: key-{i}}}}}
""")

with open(os.path.join(out, "routes.yaml"), "w") as f:
    for i in range(routes):
        a, b = i % backends, (i * 7 + 1) % backends
        f.write(f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: route-{i}, namespace: bench}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [team-{i % 100}.example.com]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /r{i}}}}}]
    backendRefs: [{{name: backend-{a}, group: gateway.kgateway.dev, kind: Backend}}]
  - matches: [{{path: {{type: Exact, value: /r{i}/chat}}, headers: [{{name: x-tier, value: gold}}]}}]
    filters: [{{type: RequestHeaderModifier, requestHeaderModifier: {{set: [{{name: x-route, value: r{i}}}]}}}}]
    backendRefs:
    - {{name: backend-{a}, group: gateway.kgateway.dev, kind: Backend, weight: 90}}
    - {{name: backend-{b}, group: gateway.kgateway.dev, kind: Backend, weight: 10}}
""")
