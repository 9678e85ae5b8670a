"""The canned provider answers nginx serves (and filter/examples/usage_scan.rs
reads): an Azure OpenAI chat completion of ~1 KiB, an Azure stream of 1,000
chunks + usage chunk + [DONE] (the client asked for `include_usage`, so every
chunk carries `"usage":null`, as OpenAI/Azure send it), and the same stream
repeated to 100 MiB.

    python3 bench/fixtures.py OUT_DIR   # writes chat.json, stream.sse, big.sse
"""

import json
import sys
from pathlib import Path

MODEL = "gpt-4o-mini-2024-07-18"
ID = "chatcmpl-BenchAzure0000000000000000001"
CREATED = 1759396891
FINGERPRINT = "fp_efad92c60b"
SAFE = {
    k: {"filtered": False, "severity": "safe"}
    for k in ("hate", "self_harm", "sexual", "violence")
}
WORDS = (
    "Cloud servers hum softly while data drifts like rain across the quiet sky "
    "and every request finds its way home through the gateway at dawn"
).split()

# What the benchmark expects the gateway to count.
JSON_USAGE = {"input": 28, "output": 150, "total": 178}
STREAM_USAGE = {"input": 28, "output": 998, "total": 1026}
BIG_USAGE = {"input": 28, "output": 524288, "total": 524316}


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def chat_json() -> bytes:
    content = " ".join(WORDS[i % len(WORDS)] for i in range(24)) + "."
    body = {
        "choices": [
            {
                "content_filter_results": SAFE,
                "finish_reason": "stop",
                "index": 0,
                "logprobs": None,
                "message": {"content": content, "refusal": None, "role": "assistant"},
            }
        ],
        "created": CREATED,
        "id": ID,
        "model": MODEL,
        "object": "chat.completion",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}],
        "system_fingerprint": FINGERPRINT,
        "usage": {
            "completion_tokens": JSON_USAGE["output"],
            "completion_tokens_details": {"reasoning_tokens": 0},
            "prompt_tokens": JSON_USAGE["input"],
            "prompt_tokens_details": {"cached_tokens": 0},
            "total_tokens": JSON_USAGE["total"],
        },
    }
    return compact(body).encode()


def chunk(delta, finish=None, filters=True) -> str:
    choice = {}
    if filters:
        choice["content_filter_results"] = SAFE if delta.get("content") else {}
    choice.update({"delta": delta, "finish_reason": finish, "index": 0, "logprobs": None})
    return "data: " + compact(
        {
            "choices": [choice],
            "created": CREATED,
            "id": ID,
            "model": MODEL,
            "object": "chat.completion.chunk",
            "system_fingerprint": FINGERPRINT,
            "usage": None,
        }
    ) + "\n\n"


def prompt_filter_chunk() -> str:
    # Azure's first chunk: no model, no choices.
    return "data: " + compact(
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}],
        }
    ) + "\n\n"


def usage_chunk(u) -> str:
    return "data: " + compact(
        {
            "choices": [],
            "created": CREATED,
            "id": ID,
            "model": MODEL,
            "object": "chat.completion.chunk",
            "system_fingerprint": FINGERPRINT,
            "usage": {
                "completion_tokens": u["output"],
                "completion_tokens_details": {"reasoning_tokens": 0},
                "prompt_tokens": u["input"],
                "prompt_tokens_details": {"cached_tokens": 0},
                "total_tokens": u["total"],
            },
        }
    ) + "\n\n"


def content_chunks(n: int):
    for i in range(n):
        yield chunk({"content": " " + WORDS[i % len(WORDS)]})


def stream_sse() -> bytes:
    # 1,000 data chunks: prompt filter, role, 997 content, finish; then usage, [DONE].
    parts = [prompt_filter_chunk(), chunk({"role": "assistant", "content": ""}, filters=False)]
    parts += content_chunks(STREAM_USAGE["output"] - 1)
    parts.append(chunk({}, finish="stop", filters=False))
    assert len(parts) == 1000
    parts += [usage_chunk(STREAM_USAGE), "data: [DONE]\n\n"]
    return "".join(parts).encode()


def write_big(path: Path, size: int = 100 * 1024 * 1024) -> int:
    """The 100 MiB stream: the same shape, as many content chunks as fit."""
    n = 0
    with open(path, "wb") as f:
        head = (prompt_filter_chunk() + chunk({"role": "assistant", "content": ""}, filters=False)).encode()
        f.write(head)
        written = len(head)
        block = "".join(content_chunks(len(WORDS) * 8)).encode()
        per_block = len(WORDS) * 8
        while written + len(block) < size:
            f.write(block)
            written += len(block)
            n += per_block
        tail = (
            chunk({}, finish="stop", filters=False)
            + usage_chunk({**BIG_USAGE, "output": n + 1, "total": BIG_USAGE["input"] + n + 1})
            + "data: [DONE]\n\n"
        ).encode()
        f.write(tail)
        written += len(tail)
    BIG_USAGE["output"] = n + 1
    BIG_USAGE["total"] = BIG_USAGE["input"] + n + 1
    return written


def write_all(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / "chat.json").write_bytes(chat_json())
    (out / "stream.sse").write_bytes(stream_sse())
    big = write_big(out / "big.sse")
    return {
        "chat.json": (out / "chat.json").stat().st_size,
        "stream.sse": (out / "stream.sse").stat().st_size,
        "big.sse": big,
        "usage": {"json": JSON_USAGE, "sse": STREAM_USAGE, "big": BIG_USAGE},
    }


if __name__ == "__main__":
    print(json.dumps(write_all(Path(sys.argv[1])), indent=1))
