#!/usr/bin/env python3
"""The gateway benchmark behind `make bench` (see bench/README.md).

One nginx (static canned Azure OpenAI answers) and one Envoy 1.40 with, side
by side:
  (a)  18100  native route: prefix_rewrite + api-key + host rewrite, no filter
  (b)  18200  the llmgate filter, exactly as `llmgate translate` emits it
  (b0) 18201  (b) without the translator's access log (to split its cost)
  (c)  18300  (a) + Envoy's ai_protocol_manager extracting token usage
  (d)  18400  LiteLLM proxy, an Azure deployment on the same nginx
Envoy runs with --concurrency 1 pinned to CPU 0; nginx, wrk and the small
clients are pinned to CPU 1; LiteLLM runs unpinned with 2 workers.

Writes bench/.work/results.json and the generated block of
docs/benchmarks.md. Stdlib only (LiteLLM lives in bench/.venv).
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from copy import deepcopy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
ENVOY = os.environ.get("ENVOY", str(ROOT / ".venv/bin/envoy"))
LLMGATE = ROOT / "target/release/llmgate"
WASM = ROOT / "target/wasm32-wasip1/release/llmgate_filter.wasm"
LITELLM = BENCH / ".venv/bin/litellm"
DOC = ROOT / "docs/benchmarks.md"

# Tunables (environment): duration per wrk run, rounds of the Envoy runs.
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
TTFB_N = int(os.environ.get("BENCH_TTFB_N", "200"))
WAIT_MAX = float(os.environ.get("BENCH_WAIT_MAX", "180"))  # total seconds we may wait for an idle machine
SKIP_LITELLM = os.environ.get("BENCH_SKIP_LITELLM") == "1"

NGINX_PORTS = {"json": 18081, "sse": 18082, "big": 18083}
PORT_A, PORT_B, PORT_B0, PORT_C, PORT_D = 18100, 18200, 18201, 18300, 18400
ADMIN = 18900
PROVIDER_PATH = "/openai/deployments/gpt-4o-mini/chat/completions"
API_VERSION = "2024-10-21"
AZURE_HOST = "bench.openai.azure.com"
# LiteLLM refuses to start without a master key; every client sends it (the
# Envoy setups drop the client's Authorization like the filter does).
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
API_KEY = "bench-azure-key"
ENVOY_CPU, CLIENT_CPU = "0", "1"

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a short haiku about cloud computing."},
]
BODY_JSON = json.dumps({"model": "", "messages": MESSAGES})
BODY_SSE = json.dumps(
    {"model": "", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
)
LITELLM_BODY = {
    "json": json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}),
    "sse": json.dumps(
        {"model": "gpt-4o-mini-stream", "messages": MESSAGES, "stream": True,
         "stream_options": {"include_usage": True}}
    ),
}

procs: list[subprocess.Popen] = []
waited = 0.0


def log(*a):
    print("[bench]", *a, flush=True)


# ---------------------------------------------------------------- machine load

def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def busy_pct(seconds=1.0) -> float:
    t0, i0 = cpu_times()
    time.sleep(seconds)
    t1, i1 = cpu_times()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_for_quiet(limit_pct=25.0, budget=30.0) -> dict:
    """Waits (within the global WAIT_MAX) until other work on the machine uses
    < limit_pct of both CPUs over 1 s; returns what was seen."""
    global waited
    start = time.time()
    busy = busy_pct()
    while busy > limit_pct and waited + (time.time() - start) < WAIT_MAX and time.time() - start < budget:
        busy = busy_pct()
    waited += time.time() - start
    return {"busy_pct": round(busy, 1), "load1": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------- processes

def start(cmd, cpu=None, stdout=subprocess.DEVNULL, env=None, **kw) -> subprocess.Popen:
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT if stdout != subprocess.DEVNULL else subprocess.DEVNULL,
                         env=env, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop(p: subprocess.Popen):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p in procs:
        procs.remove(p)


def stop_all():
    for p in list(procs):
        try:
            stop(p)
        except ProcessLookupError:
            pass


def wait_http(url, timeout=60.0, method="GET", body=None):
    end = time.time() + timeout
    while time.time() < end:
        try:
            req = urllib.request.Request(url, data=body, method=method)
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def envoy_pid(p: subprocess.Popen) -> int:
    """The envoy binary's pid (.venv/bin/envoy is a Python launcher that may exec or spawn it)."""
    for _ in range(50):
        pids = [p.pid] + [int(x) for x in subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True, text=True).stdout.split()]
        for pid in pids:
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe.endswith("/envoy") or "/envoy/_bin/" in exe:
                return pid
        time.sleep(0.1)
    raise RuntimeError("envoy process not found")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- upstream

def setup_nginx():
    www = WORK / "www"
    files = {"json": "chat.json", "sse": "stream.sse", "big": "big.sse"}
    for kind, name in files.items():
        d = www / kind / Path(PROVIDER_PATH).parent.relative_to("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "completions").unlink(missing_ok=True)
        os.link(WORK / "fixtures" / name, d / "completions")
    servers = "".join(
        f"""
  server {{
    listen 127.0.0.1:{port};
    root {www / kind};
    default_type {"application/json" if kind == "json" else "text/event-stream"};
    # Static files answer GET only; a POST gets 405, which error_page turns
    # into an internal GET redirect to the same file, answered with 200.
    location / {{ error_page 405 =200 $uri; }}
  }}"""
        for kind, port in NGINX_PORTS.items()
    )
    (WORK / "nginx").mkdir(exist_ok=True)
    conf = WORK / "nginx/nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {WORK}/nginx/nginx.pid;
error_log {WORK}/nginx/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {WORK}/nginx/body;
  types {{}}{servers}
}}
""")
    start(["nginx", "-p", str(WORK / "nginx"), "-c", str(conf)], cpu=CLIENT_CPU)
    for kind, port in NGINX_PORTS.items():
        wait_http(f"http://127.0.0.1:{port}{PROVIDER_PATH}", 10, "POST", b"{}")


# ---------------------------------------------------------------- envoy config

def translate(runtime: str) -> dict:
    out = WORK / f"llmgate-{runtime}.json"
    subprocess.run(
        [str(LLMGATE), "translate", "-f", str(BENCH / "manifests"), "--filter", str(WASM),
         "--admin-port", str(ADMIN), "--listen-address", "127.0.0.1", "--wasm-runtime", runtime,
         "-o", str(out)],
        check=True,
    )
    return json.loads(out.read_text())


def native_route(kind: str, extra=None) -> dict:
    r = {
        "match": {"path_separated_prefix": f"/bench/{kind}"},
        "name": f"native/{kind}",
        "route": {
            "cluster": f"nginx_{kind}",
            "timeout": "0s",
            "prefix_rewrite": f"{PROVIDER_PATH}?api-version={API_VERSION}",
            "host_rewrite_literal": AZURE_HOST,
        },
        "request_headers_to_add": [
            {"header": {"key": "api-key", "value": API_KEY}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        ],
        "request_headers_to_remove": ["authorization"],
    }
    if extra:
        r.update(extra)
    return r


APM_PER_ROUTE = {
    "envoy.filters.http.ai_protocol_manager": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ai_protocol_manager.v3.AiProtocolManagerPerRoute",
        "response": {"llm_protocol": "OPENAI_CHAT_COMPLETIONS"},
    }
}
APM_FILTER = {
    "name": "envoy.filters.http.ai_protocol_manager",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ai_protocol_manager.v3.AiProtocolManager",
        "response_handling": {"token_usage": {"default_llm_protocol": "OPENAI_CHAT_COMPLETIONS"}},
    },
}
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                     "suppress_envoy_headers": True},
}


def listener(name: str, port: int, http_filters: list, routes: list, access_log=None) -> dict:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "http_filters": http_filters,
        "route_config": {"name": name, "virtual_hosts": [{"name": "any", "domains": ["*"], "routes": routes}]},
    }
    if access_log:
        hcm["access_log"] = access_log
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def bootstrap(translated: dict, with_c=True, verify=False) -> dict:
    """The translator's bootstrap plus (a), (b0) and (c). `verify` adds an
    access log of the ai_protocol_manager's metadata to (c)."""
    b = deepcopy(translated)
    sr = b["static_resources"]
    gw = next(l for l in sr["listeners"] if l["address"]["socket_address"]["port_value"] == PORT_B)
    b0 = deepcopy(gw)
    b0["name"] = "gateway_nolog"
    b0["address"]["socket_address"]["port_value"] = PORT_B0
    b0["filter_chains"][0]["filters"][0]["typed_config"].pop("access_log", None)
    sr["listeners"].append(b0)
    for kind, port in NGINX_PORTS.items():
        sr["clusters"].append({
            "name": f"nginx_{kind}",
            "type": "STATIC",
            "connect_timeout": "10s",
            "load_assignment": {"cluster_name": f"nginx_{kind}", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
        })
    sr["listeners"].append(listener("native", PORT_A, [ROUTER], [native_route(k) for k in NGINX_PORTS]))
    if with_c:
        alog = None
        if verify:
            alog = [{"name": "envoy.access_loggers.stdout", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {"json_format": {"apm_listener": "c",
                                               "token_usage": "%DYNAMIC_METADATA(envoy.ai.token_usage)%", "in": "%DYNAMIC_METADATA(envoy.ai.token_usage:input_tokens)%", "out": "%DYNAMIC_METADATA(envoy.ai.token_usage:output_tokens)%"}}}}]
        sr["listeners"].append(listener(
            "apm", PORT_C, [APM_FILTER, ROUTER],
            [native_route(k, {"typed_per_filter_config": APM_PER_ROUTE}) for k in NGINX_PORTS], alog))
    return b


def run_envoy(cfg: dict, name: str, stdout_file=None, extra=()):
    path = WORK / f"envoy-{name}.json"
    path.write_text(json.dumps(cfg, indent=1))
    out = open(stdout_file, "w") if stdout_file else subprocess.DEVNULL
    p = start([ENVOY, "-c", str(path), "--concurrency", "1", "--disable-hot-restart",
               "--log-level", "warn", "--file-flush-interval-msec", "100", *extra],
              cpu=ENVOY_CPU, stdout=out)
    end = time.time() + 30
    while time.time() < end:
        if p.poll() is not None:
            raise RuntimeError(f"envoy ({name}) exited {p.returncode}" + (f": see {stdout_file}" if stdout_file else ""))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/ready", timeout=1) as r:
                if r.status == 200:
                    return p
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"envoy ({name}) not ready")


def envoy_check(cfg: dict, name: str) -> str:
    """Validates a bootstrap; returns Envoy's error (empty when valid)."""
    path = WORK / f"envoy-{name}.json"
    path.write_text(json.dumps(cfg, indent=1))
    r = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "error"],
                       capture_output=True, text=True)
    return "" if r.returncode == 0 else (r.stdout + r.stderr).strip()


def stats(prefix="") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/stats?filter={prefix}", timeout=5) as r:
        return r.read().decode()


# ---------------------------------------------------------------- clients

def post(port, path, body, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(), method="POST",
                                 headers={"content-type": "application/json", "authorization": f"Bearer {LITELLM_KEY}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wrk(name, port, path, body, duration=DURATION, warmup=WARMUP) -> dict:
    lua = WORK / f"wrk-{port}-{path.strip('/').replace('/', '_')}.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {LITELLM_KEY}"\n'
    )
    url = f"http://127.0.0.1:{port}{path}"
    base = ["taskset", "-c", CLIENT_CPU, "wrk", "-t2", f"-c{CONNS}", "--timeout", "10s", "-s", str(lua)]
    if warmup:
        subprocess.run(base + [f"-d{warmup}s", url], capture_output=True, text=True)
    quiet = wait_for_quiet()
    out = subprocess.run(base + ["--latency", f"-d{duration}s", url], capture_output=True, text=True).stdout
    res = parse_wrk(out)
    res.update(quiet, name=name, duration=duration)
    log(f"{name:28s} {res['rps']:10.1f} req/s  p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms  "
        f"non2xx {res['non2xx']} err {res['errors']}  (busy {quiet['busy_pct']}%, load {quiet['load1']})")
    return res


def to_ms(s: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", s)
    v, u = float(m.group(1)), m.group(2)
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[u]


def parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    reqs = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p50_ms": to_ms(lat["50"]),
        "p99_ms": to_ms(lat["99"]),
        "requests": int(reqs.group(1)) if reqs else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(x) for x in errs.groups()) if errs else 0,
        "raw": out,
    }


def first_byte(port: int, path: str, body: str) -> tuple[float, float]:
    """(ms to the first response byte, ms to the first body byte) of one
    request on a new connection; reads the response to its end."""
    req = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           f"Authorization: Bearer {LITELLM_KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    t0 = time.perf_counter()
    s.sendall(req)
    t_first = t_body = None
    while True:
        chunk = s.recv(65536)
        now = time.perf_counter()
        if not chunk:
            break
        if t_first is None:
            t_first = now
        if t_body is None:
            buf += chunk
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0 and len(buf) > head_end + 4:
                t_body = now
                buf = b""
    s.close()
    return (t_first - t0) * 1000, (t_body - t0) * 1000


def ttfb(n=TTFB_N) -> dict:
    """(a) and (b) alternately, n requests each, sequential."""
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    res = {"a": [], "b": []}
    quiet = wait_for_quiet()
    for _ in range(10):  # warm both
        first_byte(PORT_A, "/bench/sse", BODY_SSE)
        first_byte(PORT_B, "/bench/sse", BODY_SSE)
    for _ in range(n):
        res["a"].append(first_byte(PORT_A, "/bench/sse", BODY_SSE))
        res["b"].append(first_byte(PORT_B, "/bench/sse", BODY_SSE))
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    out = {}
    for k, v in res.items():
        hdr = sorted(x[0] for x in v)
        bod = sorted(x[1] for x in v)
        out[k] = {"headers_p50_ms": statistics.median(hdr), "body_p50_ms": statistics.median(bod),
                  "body_p90_ms": bod[int(0.9 * len(bod))]}
    out["delta_body_p50_ms"] = out["b"]["body_p50_ms"] - out["a"]["body_p50_ms"]
    out.update(quiet, n=n)
    log(f"first streamed byte p50: (a) {out['a']['body_p50_ms']:.3f} ms, (b) {out['b']['body_p50_ms']:.3f} ms, "
        f"delta {out['delta_body_p50_ms'] * 1000:+.0f} us")
    return out


def rss_run(pid: int, port: int, limit_rate=None) -> dict:
    samples = []
    stop_ev = threading.Event()

    def sampler():
        while not stop_ev.is_set():
            samples.append((time.time(), rss_kb(pid)))
            time.sleep(0.1)

    th = threading.Thread(target=sampler)
    th.start()
    time.sleep(1.0)
    t_start = time.time()
    cmd = ["taskset", "-c", CLIENT_CPU, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
           "-H", "content-type: application/json", "-d", BODY_SSE, f"http://127.0.0.1:{port}/bench/big"]
    if limit_rate:
        cmd[5:5] = ["--limit-rate", limit_rate]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
    t_end = time.time()
    time.sleep(1.0)
    stop_ev.set()
    th.join()
    before = [r for t, r in samples if t < t_start]
    during = [r for t, r in samples if t_start <= t <= t_end]
    after = [r for t, r in samples if t > t_end]
    allv = [r for _, r in samples]
    res = {
        "status": out[0], "bytes": int(out[1]), "seconds": float(out[2]), "limit_rate": limit_rate,
        "rss_before_mb": before[-1] / 1024, "rss_after_mb": after[-1] / 1024,
        "rss_min_mb": min(allv) / 1024, "rss_max_mb": max(allv) / 1024,
        "rss_during_max_mb": max(during or [0]) / 1024,
        "delta_mb": (max(allv) - min(allv)) / 1024, "samples": len(samples),
    }
    log(f"100 MB SSE through :{port} {'(client ' + limit_rate + '/s)' if limit_rate else ''}: {res['bytes']} B in {res['seconds']:.2f} s, "
        f"RSS min {res['rss_min_mb']:.1f} max {res['rss_max_mb']:.1f} MB (delta {res['delta_mb']:.1f} MB, {len(samples)} samples)")
    return res


# ---------------------------------------------------------------- LiteLLM

def start_litellm():
    cfg = WORK / "litellm.yaml"
    cfg.write_text(f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: azure/gpt-4o-mini
      api_base: http://127.0.0.1:{NGINX_PORTS['json']}
      api_key: {API_KEY}
      api_version: "{API_VERSION}"
  - model_name: gpt-4o-mini-stream
    litellm_params:
      model: azure/gpt-4o-mini
      api_base: http://127.0.0.1:{NGINX_PORTS['sse']}
      api_key: {API_KEY}
      api_version: "{API_VERSION}"
litellm_settings:
  telemetry: false
  success_callback: []
  failure_callback: []
  callbacks: []
  set_verbose: false
general_settings:
  master_key: {LITELLM_KEY}
  disable_spend_logs: true
""")
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR",
               LITELLM_TELEMETRY="False", DISABLE_ADMIN_UI="True", NO_DOCS="True")
    env.pop("LITELLM_MASTER_KEY", None)
    t0 = time.time()
    p = start([str(LITELLM), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(PORT_D),
               "--num_workers", "2"], env=env, stdout=open(WORK / "litellm.log", "w"))
    wait_http(f"http://127.0.0.1:{PORT_D}/health/liveliness", 180)
    log(f"LiteLLM up in {time.time() - t0:.1f} s")
    return p


# ---------------------------------------------------------------- report

def machine() -> dict:
    lscpu = subprocess.run("lscpu | head -20", shell=True, capture_output=True, text=True).stdout
    ver = subprocess.run([ENVOY, "--version"], capture_output=True, text=True).stdout.strip()
    lite = subprocess.run([str(BENCH / ".venv/bin/pip"), "show", "litellm"], capture_output=True, text=True).stdout
    lite_v = re.search(r"Version: (\S+)", lite)
    return {"nproc": os.cpu_count(), "lscpu": lscpu, "envoy": ver.split("version: ")[-1],
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "litellm": lite_v.group(1) if lite_v else "?", "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def render(R: dict) -> str:
    m = R["machine"]
    L = []
    L.append(f"Run {R['date']}, `make bench` ({R['elapsed_s'] / 60:.1f} min). Envoy `{m['envoy']}`, "
             f"{m['nginx'].replace('nginx version: ', '')}, wrk {m['wrk'].split(' Copyright')[0].replace('wrk ', '')}, LiteLLM {m['litellm']}. "
             f"`nproc` = {m['nproc']}; load before: `{m['uptime'].split('load average: ')[-1]}`.")
    L.append("")
    L.append("<details><summary><code>lscpu | head -20</code></summary>\n\n```\n" + m["lscpu"].rstrip() + "\n```\n</details>")
    L.append("")
    L.append(f"wrk `-t2 -c{CONNS} -d{DURATION}s` after a {WARMUP} s warm-up; Envoy runs: best of {ROUNDS} interleaved "
             "rounds (interference from other work only lowers throughput). \"busy\" = CPU use of the whole machine "
             "(both cores) in the second before the run, i.e. other engineers' work; \"load\" = 1-min load average then.")
    L.append("")
    for kind, title in (("json", "Non-streaming, ~1 KiB JSON reply"), ("sse", "Streaming, 1,000 chunks (~484 KiB)")):
        t = R["throughput"][kind]
        a = t["a"]["rps"]
        L.append(f"**{title}**")
        L.append("")
        L.append("| | setup | req/s | × (a) | p50 ms | p99 ms | non-2xx / errors | busy % / load |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        labels = {
            "a": "(a) | native route, no filter (ceiling)",
            "b": "(b) | llmgate filter (translator output, V8)",
            "b0": "(b0) | (b) without the access log",
            "c": "(c) | `ai_protocol_manager` token usage",
            "b_wamr": "(b) | llmgate, `--wasm-runtime wamr`",
            "b_wasmtime": "(b) | llmgate, `--wasm-runtime wasmtime`",
            "d": "(d) | LiteLLM proxy, 2 workers",
        }
        for key in ("a", "b", "b0", "c", "b_wamr", "b_wasmtime", "d"):
            r = t.get(key)
            if r is None:
                continue
            if "error" in r:
                err = re.sub(r"^Envoy: `(\[[^]]*\] *)+", "Envoy: `", r["error"])
                L.append(f"| {labels[key]} | – | – | – | – | {err} | |")
                continue
            if r["rps"] == 0:
                L.append(f"| {labels[key]} | 0 (none of {CONNS} streams finished in {r.get('duration', 15)} s) | 0 | – | – | "
                         f"{r['non2xx']} / {r['errors']} | {r['busy_pct']} / {r['load1']} |")
                continue
            L.append(f"| {labels[key]} | {r['rps']:,.0f} | {r['rps'] / a:.3f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['non2xx']} / {r['errors']} | {r['busy_pct']} / {r['load1']} |")
        L.append("")
    # targets
    T = R["throughput"]
    tf = R["ttfb"]
    rs = R["rss"]
    L.append("**Targets**")
    L.append("")
    L.append("| target | measured | |")
    L.append("|---|---|---|")
    for kind in ("json", "sse"):
        t = T[kind]
        rb = t["b"]["rps"] / t["a"]["rps"]
        L.append(f"| (b) ≥ 0.95× (a), {kind} | {rb:.3f}× | {met(rb >= 0.95)} |")
        if "rps" in t.get("c", {}):
            rc = t["b"]["rps"] / t["c"]["rps"]
            L.append(f"| (b) ≥ 1.0× (c), {kind} | {rc:.3f}× | {met(rc >= 1.0)} |")
        else:
            L.append(f"| (b) ≥ 1.0× (c), {kind} | (c) not measured | – |")
        if "rps" in t.get("d", {}):
            if t["d"]["rps"] > 0:
                rd = t["b"]["rps"] / t["d"]["rps"]
                L.append(f"| (b) ≥ 20× (d), {kind} | {rd:.1f}× | {met(rd >= 20)} |")
            else:  # nothing finished within the run: at most one request per run
                rd = t["b"]["rps"] * t["d"].get("duration", 15)
                L.append(f"| (b) ≥ 20× (d), {kind} | > {rd:,.0f}× (no LiteLLM response finished within the run) | {met(True)} |")
    d = tf["delta_body_p50_ms"]
    L.append(f"| first streamed byte ≤ +0.1 ms p50 vs (a) | (a) {tf['a']['body_p50_ms']:.3f} ms, (b) {tf['b']['body_p50_ms']:.3f} ms: "
             f"{d * 1000:+.0f} µs (n = {tf['n']} each, busy {tf['busy_pct']} %) | {met(d <= 0.1)} |")
    for r in rs:
        label = "100 MB SSE through (b)" + (f", client reading at {r['limit_rate']}/s" if r["limit_rate"] else ", full speed")
        L.append(f"| Envoy RSS flat ±5 MB, {label} | {r['rss_min_mb']:.1f} → {r['rss_max_mb']:.1f} MB "
                 f"(Δ {r['delta_mb']:.1f} MB; before {r['rss_before_mb']:.1f}, after {r['rss_after_mb']:.1f}; "
                 f"{r['bytes'] / 1e6:.0f} MB in {r['seconds']:.1f} s) | {met(r['delta_mb'] <= 5)} |")
    L.append("")
    if R.get("apm_note"):
        L.append("(c): " + R["apm_note"])
        L.append("")
    if R.get("verify"):
        L.append("Checked before measuring (one request each): " + "; ".join(R["verify"]) + ".")
        L.append("")
    return "\n".join(L)


def callgrind() -> dict:
    """Instructions per response and top functions from bench/run.sh's runs."""
    def total(name):
        f = WORK / f"callgrind.{name}.annotate.txt"
        if not f.exists():
            return None, []
        txt = f.read_text()
        m = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", txt)
        tops = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+\S*?:(\S.*?) \[", txt, re.M)
        return int(m.group(1).replace(",", "")), [(float(p), fn) for _, p, fn in tops[:6]]
    base, _ = total("base")
    out = {}
    for name, n in (("filter-sse", 20), ("filter-json", 2000), ("naive-sse", 5), ("naive-json", 500)):
        t, tops = total(name)
        if t is None or base is None:
            continue
        out[name] = {"per_response": (t - base) / n, "top": tops}
    return out


def render_callgrind(cg: dict) -> str:
    if not cg:
        return ""
    L = ["**Host-target parser under callgrind** (`filter/examples/usage_scan.rs`, the same fixtures fed in 16 KiB "
         "pieces; instructions per response = (Ir at N − Ir at N = 0) / N)", "",
         "| parser | JSON reply (1 KiB) | SSE, 1,000 chunks (484 KiB) | top functions (SSE) |", "|---|---:|---:|---|"]
    for who in ("filter", "naive"):
        j, s_ = cg.get(f"{who}-json"), cg.get(f"{who}-sse")
        if not (j and s_):
            continue
        tops = "; ".join(f"{fn.split('::')[-1] if '::' in fn else fn} {p:.0f} %" for p, fn in s_["top"][:4])
        label = "llmgate (`ResponseReader`)" if who == "filter" else "naive (`serde_json::Value` per body / event)"
        L.append(f"| {label} | {j['per_response']:,.0f} | {s_['per_response']:,.0f} | {tops} |")
    scan = WORK / "usage_scan.txt"
    if scan.exists():
        L += ["", "Native timings (`usage_scan … 2000`):", "", "```", scan.read_text().rstrip(), "```"]
    return "\n".join(L)


BEGIN, END = "<!-- bench:begin (generated by make bench) -->", "<!-- bench:end -->"


def write_doc(text: str):
    doc = DOC.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip() + "\n\n## Gateway throughput (`make bench`)\n\n" + block + "\n"
    DOC.write_text(doc)


# ---------------------------------------------------------------- main

def main():
    t_begin = time.time()
    R = {"date": time.strftime("%Y-%m-%d %H:%M"), "throughput": {"json": {}, "sse": {}}}
    # Keep what bench/run.sh wrote (callgrind, usage_scan); redo the rest.
    WORK.mkdir(exist_ok=True)
    for child in WORK.iterdir():
        if not child.name.startswith(("callgrind", "usage_scan", "fixtures")):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    (WORK / "fixtures").mkdir(exist_ok=True)
    R["fixtures"] = fixtures.write_all(WORK / "fixtures")
    usage = R["fixtures"]["usage"]
    R["machine"] = machine()
    log("machine:", R["machine"]["uptime"])
    q = wait_for_quiet(budget=min(120, WAIT_MAX))
    log(f"before start: busy {q['busy_pct']}%, load {q['load1']}")

    setup_nginx()
    tr = {rt: translate(rt) for rt in ("v8", "wamr", "wasmtime")}

    # (c): can the 1.40 binary take the ai_protocol_manager?
    apm_err = envoy_check(bootstrap(tr["v8"]), "validate")
    with_c = not apm_err
    if apm_err:
        R["apm_note"] = f"Envoy rejects the configuration: `{apm_err.splitlines()[-1]}`"
        log("ai_protocol_manager rejected:", apm_err)

    # Correctness first: one request each, with access logs captured.
    vlog = WORK / "envoy-verify.out"
    p = run_envoy(bootstrap(tr["v8"], with_c, verify=True), "verify", stdout_file=vlog,
                  extra=("--component-log-level", "filter:trace"))
    verify = []
    for kind, body in (("json", BODY_JSON), ("sse", BODY_SSE)):
        want = (WORK / "fixtures" / ("chat.json" if kind == "json" else "stream.sse")).read_bytes()
        for label, port in (("a", PORT_A), ("b", PORT_B), ("b0", PORT_B0)) + ((("c", PORT_C),) if with_c else ()):
            status, got = post(port, f"/bench/{kind}", body)
            assert status == 200 and got == want, f"({label}) {kind}: {status}, {len(got)} bytes"
    time.sleep(0.5)
    st = stats("llmgate_tokens")
    for kind in ("json", "sse"):
        for tt, key in (("input", "input"), ("output", "output")):
            m = re.search(rf"llmgate_tokens;[^\n]*backend=default/bench-{kind};[^\n]*token_type={tt}[^:]*: (\d+)", st)
            got = int(m.group(1)) if m else None
            # two requests per kind went through the filter: (b) and (b0)
            assert got == 2 * usage[kind][key], f"(b) {kind} {tt} tokens: {got}, want {2 * usage[kind][key]}\n{st}"
    verify.append(f"every listener answers 200 with the upstream's bytes unchanged; (b) counted "
                  f"{usage['json']['input']}+{usage['json']['output']} (JSON) and {usage['sse']['input']}+{usage['sse']['output']} (SSE) tokens per request")
    stop(p)
    out = vlog.read_text()
    if with_c:
        # 1.40.0 publishes the usage as typed metadata only: the access log's
        # %DYNAMIC_METADATA(envoy.ai.token_usage...)% prints null, so count
        # the filter's own trace line instead.
        published = out.count("ai_protocol_manager: token usage published")
        apm_lines = [json.loads(l) for l in out.splitlines() if l.startswith("{") and '"apm_listener"' in l]
        R["apm_published"] = published
        R["apm_access_log"] = apm_lines
        log(f"ai_protocol_manager published usage {published} times; access log sees {apm_lines}")
        verify.append(f"(c) logged `token usage published to namespace envoy.ai.token_usage` for {published} of 2 responses "
                      f"(its access log's `%DYNAMIC_METADATA(envoy.ai.token_usage:input_tokens)%` is `null` on 1.40.0: "
                      f"typed metadata only)")
    R["verify"] = verify

    # Throughput, (a)/(b)/(b0)/(c) interleaved, best of ROUNDS.
    p = run_envoy(bootstrap(tr["v8"], with_c), "main")
    pid = envoy_pid(p)
    targets = [("a", PORT_A), ("b", PORT_B), ("b0", PORT_B0)] + ([("c", PORT_C)] if with_c else [])
    for kind, body in (("json", BODY_JSON), ("sse", BODY_SSE)):
        runs = {k: [] for k, _ in targets}
        for rnd in range(ROUNDS):
            for k, port in targets:
                runs[k].append(wrk(f"{kind} ({k}) round {rnd + 1}", port, f"/bench/{kind}", body))
        for k, rs in runs.items():
            best = max(rs, key=lambda r: r["rps"])
            best["rounds_rps"] = [r["rps"] for r in rs]
            R["throughput"][kind][k] = best
    if not with_c:
        for kind in ("json", "sse"):
            R["throughput"][kind]["c"] = {"error": "rejected by Envoy 1.40.0 (see below)"}

    R["ttfb"] = ttfb()
    R["rss"] = [rss_run(pid, PORT_B), rss_run(pid, PORT_B, "20M")]
    st = stats("llmgate_tokens")
    m = re.search(r"llmgate_tokens;[^\n]*backend=default/bench-big;[^\n]*token_type=output[^:]*: (\d+)", st)
    R["big_output_tokens"] = int(m.group(1)) if m else None
    assert R["big_output_tokens"] == 2 * usage["big"]["output"], f"big stream tokens {R['big_output_tokens']}"
    R["verify"].append(f"the 100 MB stream was counted ({usage['big']['output']} output tokens each time)")
    stop(p)

    # Runtimes.
    for rt in ("wamr", "wasmtime"):
        try:
            p = run_envoy(bootstrap(tr[rt], with_c=False), rt, stdout_file=WORK / f"envoy-{rt}.out")
        except RuntimeError as e:
            err = (WORK / f"envoy-{rt}.out").read_text().strip().splitlines()
            msg = next((l for l in err if "Failed to create Wasm VM" in l), next((l for l in reversed(err) if "rror" in l), str(e)))
            msg = re.sub(r"^(\[[^]]*\])+ *(\[[^]]*\] *)*", "", msg)
            for kind in ("json", "sse"):
                R["throughput"][kind][f"b_{rt}"] = {"error": f"Envoy: `{msg[-200:]}`"}
            log(f"{rt}: {msg}")
            continue
        for kind, body in (("json", BODY_JSON), ("sse", BODY_SSE)):
            status, got = post(PORT_B, f"/bench/{kind}", body)
            assert status == 200, f"{rt} {kind}: {status}"
            R["throughput"][kind][f"b_{rt}"] = wrk(f"{kind} (b) {rt}", PORT_B, f"/bench/{kind}", body)
        stop(p)

    # LiteLLM.
    if not SKIP_LITELLM:
        try:
            p = start_litellm()
            for kind in ("json", "sse"):
                status, got = post(PORT_D, "/chat/completions", LITELLM_BODY[kind], timeout=60)
                assert status == 200, f"LiteLLM {kind}: {status} {got[:300]}"
                if kind == "json":
                    u = json.loads(got).get("usage", {})
                    assert u.get("prompt_tokens") == usage["json"]["input"], f"LiteLLM usage {u}"
                else:
                    assert b'"prompt_tokens":28' in got.replace(b" ", b""), "LiteLLM stream without usage"
                R["throughput"][kind]["d"] = wrk(f"{kind} (d) LiteLLM", PORT_D, "/chat/completions",
                                                 LITELLM_BODY[kind], duration=max(DURATION, 15), warmup=3)
            R["verify"].append("LiteLLM answered 200 with the upstream's usage for both")
            stop(p)
        except Exception as e:  # report, keep the rest
            log("LiteLLM failed:", e)
            for kind in ("json", "sse"):
                R["throughput"][kind].setdefault("d", {"error": f"LiteLLM failed: {str(e)[:150]} (bench/.work/litellm.log)"})

    R["callgrind"] = callgrind()
    R["elapsed_s"] = time.time() - t_begin
    R["waited_s"] = waited
    for kind in R["throughput"].values():
        for r in kind.values():
            r.pop("raw", None)
    (WORK / "results.json").write_text(json.dumps(R, indent=1))
    write_doc(render(R) + "\n" + render_callgrind(R["callgrind"]))
    log(f"done in {R['elapsed_s'] / 60:.1f} min (waited {waited:.0f} s for a quiet machine); "
        f"results in {WORK / 'results.json'} and {DOC}")


def render_only():
    """`bench.py --render`: the doc block again from bench/.work/results.json."""
    R = json.loads((WORK / "results.json").read_text())
    for kind in ("json", "sse"):
        d = R["throughput"][kind].get("d")
        if d and "duration" not in d:
            d["duration"] = max(DURATION, 15)
    write_doc(render(R) + "\n" + render_callgrind(R.get("callgrind") or callgrind()))


if __name__ == "__main__":
    if sys.argv[1:] == ["--render"]:
        render_only()
        sys.exit(0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        stop_all()
