#!/usr/bin/env python3
"""Push latency of `llmgate serve`: from a manifest file being rewritten to
the Envoy that is connected to it having accepted (ACKed) the new listeners.

push_latency.py ROUTES BACKENDS RUNS. Generates the translation benchmark's
manifests (bench/translate/generate.py) with every Backend pointed at
127.0.0.1 (so Envoy's cluster warm-up is not a DNS timeout on this offline
machine), starts `llmgate serve` and one Envoy bootstrapped to it, waits for
the first full configuration, then RUNS times: rewrites routes.yaml with one
route's path changed and polls Envoy's `listener_manager.lds.version_text`
every 2 ms until it changes. Prints one line per run and the median.
"""
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
routes, backends, runs = (int(a) for a in (sys.argv[1:] + ["10000", "1000", "5"])[:3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def lds_version(admin):
    try:
        text = get(f"http://127.0.0.1:{admin}/stats?filter=^listener_manager.lds.version_text$")
    except OSError:
        return None
    m = re.search(r': "?([0-9a-f+]*)"?', text)
    return m.group(1) if m and m.group(1) else None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.002)
    sys.exit(f"timed out: {what}")


work = tempfile.mkdtemp(prefix="llmgate-push-")
procs = []
try:
    manifests = os.path.join(work, "manifests")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench/translate/generate.py"), manifests, str(routes), str(backends)], check=True)
    path = os.path.join(manifests, "backends.yaml")
    text = open(path).read()
    text = text.replace("ai: {llm: {openai:", "ai: {llm: {host: 127.0.0.1, port: 9, openai:")
    text = text.replace("    llm:\n      azureopenai:", "    llm:\n      host: 127.0.0.1\n      port: 9\n      azureopenai:")
    open(path, "w").write(text)
    routes_path = os.path.join(manifests, "routes.yaml")
    original_routes = open(routes_path).read()

    xds, admin = free_port(), free_port()
    llmgate = os.path.join(ROOT, "target/release/llmgate")
    log = open(os.path.join(work, "serve.log"), "w")
    procs.append(subprocess.Popen([llmgate, "serve", "-f", manifests, "--xds-port", str(xds),
                                   "--listen-address", "127.0.0.1"], stdout=log, stderr=log))
    bootstrap = os.path.join(work, "bootstrap.yaml")
    deadline = time.monotonic() + 60
    while True:
        try:
            get(f"http://127.0.0.1:{xds}/healthz")
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("llmgate serve did not start: " + open(os.path.join(work, "serve.log")).read())
            time.sleep(0.05)
    subprocess.run([llmgate, "bootstrap", "--xds-address", f"127.0.0.1:{xds}",
                    "--admin-port", str(admin), "-o", bootstrap], check=True)
    start = time.monotonic()
    procs.append(subprocess.Popen([os.path.join(ROOT, ".venv/bin/envoy"), "-c", bootstrap, "--disable-hot-restart",
                                   "--concurrency", "2", "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    first = wait_for(lambda: lds_version(admin), 120, "the first configuration")
    print(f"first full configuration in Envoy: {time.monotonic() - start:.2f} s after Envoy started (version {first})")

    latencies = []
    for run in range(runs):
        before = lds_version(admin)
        changed = original_routes.replace("value: /r0}", f"value: /changed{run}}}", 1)
        tmp = routes_path + ".tmp"
        open(tmp, "w").write(changed)
        t0 = time.monotonic()
        os.replace(tmp, routes_path)
        wait_for(lambda: (v := lds_version(admin)) and v != before and "+" not in v, 60, "the change to be ACKed")
        latency = time.monotonic() - t0
        latencies.append(latency)
        print(f"run {run + 1}: file rewritten → Envoy accepted the new listeners in {latency * 1000:.0f} ms")
        time.sleep(0.5)
    print(f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
          f"({routes} HTTPRoutes, {backends} Backends)")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    if os.environ.get("KEEP"):
        print("kept", work)
    else:
        shutil.rmtree(work, ignore_errors=True)
