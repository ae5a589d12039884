"""A scripted OpenAI-compatible chat-completions server for tests: a real HTTP server on a real socket.

It answers ``POST /v1/chat/completions`` from a script, in order: :func:`reply` (a completion in
the real response format, with ``usage``, and the :func:`tool_call` s it is given; streamed as
server-sent events when the request asks for ``"stream": true``), :func:`error` (an HTTP error with the API's error
body and optional headers such as ``Retry-After``) or :func:`stall` (a reply that comes after a
delay, to make the client time out).  Every request is recorded (JSON body, headers, arrival
time).  The server runs only inside ``with ScriptedChatServer(...)``, and a watchdog stops it
after ``lifetime_s`` even if the test hangs; when the script runs out it answers 400, which the
agent does not retry, so a test with too few replies fails at once.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: dict[str, int] | None = None
    message: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def reply(content: str | None, *, tool_calls: list[dict[str, Any]] | None = None, prompt_tokens: int | None = None,
          completion_tokens: int | None = None) -> Scripted:
    usage = None
    if prompt_tokens is not None or completion_tokens is not None:
        usage = {"prompt_tokens": prompt_tokens or 0, "completion_tokens": completion_tokens or 0}
    return Scripted(content=content, usage=usage, tool_calls=list(tool_calls or []))


_call_ids = itertools.count()


def tool_call(name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """A tool call as the API writes one in an assistant message (``arguments`` as JSON text)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": f"call_{next(_call_ids)}", "type": "function", "function": {"name": name, "arguments": text}}


def error(status: int, message: str = "scripted failure", headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, message=message, headers=dict(headers or {}))


def stall(seconds: float, content: str = "Action: [\"get_tables\"]") -> Scripted:
    return Scripted(content=content, delay_s=seconds)


class ScriptedChatServer:
    """``with ScriptedChatServer([reply("..."), error(500), ...]) as server: server.base_url``."""

    def __init__(self, script: list[Scripted], *, lifetime_s: float = 60.0):
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.sent_usage: list[dict[str, int]] = []
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None
        self._closed = False

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def remaining(self) -> int:
        return len(self.script)

    def __enter__(self) -> "ScriptedChatServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # idle keep-alive connections end by themselves

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                arrived = time.monotonic()
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                body = json.loads(raw or b"{}")
                with server._lock:
                    server.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}, "t": arrived})
                    step = server.script.pop(0) if server.script else None
                if step is None:
                    self._send(400, {"error": {"message": "the test's script of replies ran out",
                                               "type": "invalid_request_error"}})
                    return
                if step.delay_s:
                    time.sleep(step.delay_s)
                if step.status != 200:
                    self._send(step.status, {"error": {"message": step.message, "type": "server_error",
                                                       "code": step.status}}, step.headers)
                    return
                usage = dict(step.usage or {
                    "prompt_tokens": sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4,
                    "completion_tokens": len(step.content or "") // 4 + 1})
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                with server._lock:
                    server.sent_usage.append(usage)
                if body.get("stream"):
                    self._stream(body, step, usage)
                    return
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", ""), "system_fingerprint": None,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": step.content,
                                                         **({"tool_calls": step.tool_calls} if step.tool_calls else {})},
                                 "finish_reason": "tool_calls" if step.tool_calls else "stop", "logprobs": None}],
                    "usage": usage}, step.headers)

            def _stream(self, body: dict, step: Scripted, usage: dict[str, int]):
                """The reply as server-sent events, the way the API streams (``"stream": true``)."""
                base = {"id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body.get("model", ""), "system_fingerprint": None}
                chunks = [
                    {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None, "logprobs": None}]},
                    {**base, "choices": [{"index": 0, "delta": {"content": step.content},
                                          "finish_reason": None, "logprobs": None}]},
                ]
                for i, call in enumerate(step.tool_calls):  # each call in two chunks, as the API splits them
                    arguments = call["function"]["arguments"]
                    half = len(arguments) // 2
                    chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "id": call["id"], "type": "function",
                         "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}]},
                        "finish_reason": None, "logprobs": None}]})
                    chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "function": {"arguments": arguments[half:]}}]},
                        "finish_reason": None, "logprobs": None}]})
                chunks.append({**base, "choices": [{"index": 0, "delta": {},
                                                    "finish_reason": "tool_calls" if step.tool_calls else "stop",
                                                    "logprobs": None}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    chunks.append({**base, "choices": [], "usage": usage})
                data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in step.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-chat-server", daemon=True)
        self._thread.start()
        self._watchdog = threading.Timer(self.lifetime_s, self.close)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def close(self) -> None:
        with self._lock:
            httpd = self._httpd
            if httpd is None or self._closed:
                return
            self._closed = True
        httpd.shutdown()
        httpd.server_close()

    def __exit__(self, *exc) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
