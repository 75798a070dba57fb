"""A local OpenAI chat-completions server that plays the judge, standard library only.

For trying ``hadpo eval shr``, ``hadpo eval mmhal`` and ``hadpo pairs`` offline (``hadpo demo`` starts one), for the tests (real
``openai`` client, real HTTP, injected faults) and for the concurrency benchmark::

    python -m hadpo_cli.testing.local_judge --port 8011 --delay 0.1
    hadpo eval shr ... --base-url http://127.0.0.1:8011/v1 --judge-model local-rule-judge

Its default reply policy is :func:`rule_judge_reply`, a rule-based judge that understands the
demo's toy world (:mod:`hadpo_cli.data.toy_world`: a few COCO objects drawn as glyphs): it reads
the region lines and numbered sentences of the default judge prompt and labels each sentence by
the objects it names. It is a stand-in that exercises the whole pipeline, not a judge of real
photos.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hadpo_cli.data.toy_world import named_objects
from hadpo_cli.evaluation.shr_prompt import SENTENCES_HEADER
from hadpo_cli.metrics.shr import CANNOT_JUDGE, CORRECT, HALLUCINATION

HOST = "127.0.0.1"
MODULE = "hadpo_cli.testing.local_judge"  # also its name under `python -m`
RULE_JUDGE_MODEL = "local-rule-judge"
# Labels sentence 1 only: a reply the SHR parser must reject as malformed for 2+ sentences.
MALFORMED_REPLY = "Judgement:\n1. correct: only the first one"
SLOW_SECONDS = 1.5  # a "slow" fault: longer than any request timeout a test sets

ReplyPolicy = Callable[[str], str]  # prompt -> the reply's message content

# ---------------------------------------------------------------- the rule judge

# "[0.06, 0.12, 0.41, 0.47]: a red circle": the lines `format_regions` writes.
_REGION_RE = re.compile(r"^\[\s*-?[\d.]+\s*(?:,\s*-?[\d.]+\s*){3}\]:\s*(.+?)\s*$", re.MULTILINE)
_SENTENCE_RE = re.compile(r"^(\d+)\.[ \t]+(.+?)\s*$", re.MULTILINE)
# Reading only below the default prompt's sentences header keeps a numbered line elsewhere
# (a fact such as "2. ...") from being taken for a sentence.


def parse_judge_prompt(prompt: str) -> tuple[list[str], list[tuple[int, str]]]:
    """``(region phrases, [(number, sentence), ...])`` from a prompt in the default format.

    A user template without the default header still works when its sentences are the only
    numbered lines.
    """
    regions = _REGION_RE.findall(prompt)
    header = prompt.find(SENTENCES_HEADER)
    section = prompt[header + len(SENTENCES_HEADER) :] if header >= 0 else prompt
    sentences = [(int(n), text) for n, text in _SENTENCE_RE.findall(section)]
    return regions, sentences


def rule_label(sentence: str, region_objects: set[str]) -> tuple[str, str]:
    """``(label, reason)``: an object no region names is a hallucination; one a region names is
    correct; a sentence naming none (background, counts, mood) cannot be judged."""
    named = named_objects(sentence)
    if not named:
        return CANNOT_JUDGE, "names no object"
    missing = sorted(named - region_objects)
    if missing:
        return HALLUCINATION, f"no region shows a {missing[0]}"
    return CORRECT, f"a region shows the {', '.join(sorted(named))}"


def rule_judge_reply(prompt: str) -> str:
    """The whole reply, in the ``Judgement:`` format ``parse_judgement`` reads."""
    regions, sentences = parse_judge_prompt(prompt)
    region_objects = set().union(*(named_objects(phrase) for phrase in regions))
    lines = []
    for number, sentence in sentences:
        label, reason = rule_label(sentence, region_objects)
        lines.append(f"{number}. {label}: {reason}\n")
    return "Judgement:\n" + "".join(lines)


# ---------------------------------------------------------------- MMHal-Bench ratings

# The sections of hadpo's MMHal prompt, and of the published eval_gpt4.py template.
_MMHAL_LABELS = re.compile(r"^(?:Image labels:|### Image Contents\n)\s*(.*)$", re.MULTILINE)
_MMHAL_ANSWER = ("Model answer to grade:\n", "### LMM Response to Evaluate\n")


def is_mmhal_prompt(prompt: str) -> bool:
    return any(marker in prompt for marker in _MMHAL_ANSWER)


def mmhal_rating(labels: set[str], answer: str) -> tuple[int, str]:
    """A rating on MMHal-Bench's 0-6 scale: an object the labels lack is a hallucination (1); naming
    labelled objects only is informative (5); naming none is not informative (3)."""
    named = named_objects(answer)
    ghosts = sorted(named - labels)
    if ghosts:
        return 1, f"the answer names a {ghosts[0]}, which the image does not contain"
    if named:
        return 5, f"the answer names the {', '.join(sorted(named))} correctly"
    return 3, "the answer says nothing checkable about the image"


def mmhal_judge_reply(prompt: str) -> str:
    labels_match = _MMHAL_LABELS.search(prompt)
    labels = named_objects(labels_match.group(1)) if labels_match else set()
    marker = next(m for m in _MMHAL_ANSWER if m in prompt)
    answer = prompt.rsplit(marker, 1)[1].split("\n\nYour previous reply", 1)[0]
    rating, reason = mmhal_rating(labels, answer)
    return f"Explanation: {reason}.\nRating: {rating}"


# ---------------------------------------------------------------- hadpo pairs: detect, rewrite

PAIRS_SENTENCES = "Sentences of the description, numbered:\n"
PAIRS_REWRITE = "Description:\n"


def pairs_detect_reply(prompt: str) -> str:
    """The JSON `hadpo pairs` asks for: a sentence naming an object the annotations lack is a
    hallucination; the corrected text drops those sentences, keeping the others word for word."""
    annotations, rest = prompt.split(PAIRS_SENTENCES, 1)
    there = named_objects(annotations)
    sentences = [text for _, text in _SENTENCE_RE.findall(rest.split("\n\n", 1)[0])]
    verdicts, kept, ghosts, seen = [], [], [], []
    for n, sentence in enumerate(sentences, start=1):
        named = named_objects(sentence)
        missing = sorted(named - there)
        seen += sorted(named & there)
        ghosts += missing
        if missing:
            verdicts.append({"n": n, "verdict": "hallucination", "problem": f"there is no {missing[0]}"})
        else:
            verdicts.append({"n": n, "verdict": "correct" if named else "unsure", "problem": ""})
            kept.append(sentence)
    # The numbered sentences come without their final stops; give each one back.
    corrected = (
        " ".join(f"{k.rstrip('.')}." for k in kept) or "The image shows " + ", ".join(sorted(there)) + "."
    )
    return json.dumps(
        {"sentences": verdicts, "hallucinated_objects": list(dict.fromkeys(ghosts)),
         "present_objects": list(dict.fromkeys(seen)), "corrected": corrected}
    )  # fmt: skip


_VARIANT_RE = re.compile(r"\(rewrite (\d+)\)")


def pairs_rewrite_reply(prompt: str) -> str:
    """A rewrite that keeps every statement: the same sentences in another order (and, for even
    variants, an opening phrase), as `hadpo pairs` asks for it."""
    text = prompt.split(PAIRS_REWRITE, 1)[1].split("\n\nReply with", 1)[0].strip()
    match = _VARIANT_RE.search(prompt)
    variant = int(match.group(1)) if match else 1
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()]
    shift = variant % len(parts) if parts else 0
    rewritten = " ".join(parts[shift:] + parts[:shift])
    if variant % 2 == 0 and rewritten:
        rewritten = "In this picture, " + rewritten[0].lower() + rewritten[1:]
    return json.dumps({"rewrite": rewritten})


def toy_world_reply(prompt: str) -> str:
    """The local judge's default policy: each judged step of hadpo recognised by its prompt."""
    if is_mmhal_prompt(prompt):
        return mmhal_judge_reply(prompt)
    if PAIRS_SENTENCES in prompt:
        return pairs_detect_reply(prompt)
    if PAIRS_REWRITE in prompt and '{"rewrite"' in prompt:
        return pairs_rewrite_reply(prompt)
    return rule_judge_reply(prompt)


# ---------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """What one request gets instead of a good reply to its prompt.

    ``status``: answer with this HTTP error (a 429 carries ``retry_after``, else the server's
    default); ``delay``: extra seconds before answering; ``malformed``: a 200 whose judgement
    labels only sentence 1; ``rewrite``: change the good reply's text (e.g. flip labels);
    ``raw_body``: a 200 whose body is this text, sent as ``content_type`` (a proxy's HTML login
    page, a truncated JSON document).
    """

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    malformed: bool = False
    rewrite: Callable[[str], str] | None = None
    raw_body: str | None = None
    content_type: str = "application/json"

    @classmethod
    def of(cls, spec: FaultSpec) -> Fault:
        """``Fault``, an HTTP status (``429`` or ``"429"``), or ``"ok"`` / ``"malformed"`` / ``"slow"``."""
        if isinstance(spec, Fault):
            return spec
        if isinstance(spec, int) or spec.isdigit():
            return cls(status=int(spec))
        named = {
            "ok": cls(),
            "malformed": cls(malformed=True),
            "slow": cls(delay=SLOW_SECONDS),
            "html": cls(
                raw_body="<html><body><h1>Sign in to continue</h1></body></html>", content_type="text/html"
            ),
            "notjson": cls(raw_body='{"choices": [{"mess'),
        }
        if spec not in named:
            raise ValueError(f"unknown fault {spec!r}: use an HTTP status or one of {', '.join(named)}")
        return named[spec]


FaultSpec = Fault | int | str
OK = Fault()


# ---------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client holding a keep-alive connection must not block shutdown
    request_queue_size = 128  # the default backlog of 5 resets connections when 16 arrive at once


class LocalJudgeServer:
    """An OpenAI-compatible ``POST /v1/chat/completions`` on 127.0.0.1, in a background thread.

    ``with LocalJudgeServer() as server: ... server.base_url ...``. Every call waits ``delay``
    seconds (the judge "thinking"), then answers with ``reply(prompt)`` unless ``faults`` says
    otherwise: ``{"zebra": ["429", "500", "ok"]}`` gives the 1st request whose prompt contains
    "zebra" a 429, the 2nd a 500, the 3rd and later a good reply (marker ``""`` matches all).
    ``requests`` records each call (path, authorization header, JSON body).
    """

    def __init__(
        self,
        *,
        reply: ReplyPolicy = toy_world_reply,
        delay: float = 0.0,
        faults: Mapping[str, Sequence[FaultSpec]] | None = None,
        retry_after: str | None = "0.2",
        port: int = 0,
    ):
        self.reply = reply
        self.delay = delay
        self.faults = {marker: [Fault.of(s) for s in specs] for marker, specs in (faults or {}).items()}
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self.times: dict[str, list[float]] = defaultdict(list)  # marker -> monotonic arrival times
        self.in_flight = 0
        self.max_in_flight = 0
        self._port = port
        self._bound_port: int | None = None
        self._seen: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        """The bound port; still known after :meth:`stop` (a test may probe the closed port)."""
        if self._bound_port is None:
            raise RuntimeError("the local judge has not been started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """What ``--base-url`` / ``OpenAI(base_url=...)`` takes."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def bind(self) -> LocalJudgeServer:
        """Open the socket (port 0 = any free one) without serving yet."""
        if self._httpd is None:
            self._httpd = _Server((HOST, self._port), _make_handler(self))
            self._bound_port = int(self._httpd.server_address[1])
        return self

    def start(self) -> LocalJudgeServer:
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the ``python -m`` entry)."""
        self.bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._httpd is None:
            return
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        # Close kept-alive connections too, so a stopped judge really stops answering.
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd, self._thread = None, None

    def __enter__(self) -> LocalJudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bookkeeping the tests read

    def count(self, marker: str) -> int:
        """Requests whose prompt contains ``marker``."""
        with self._lock:
            return sum(1 for r in self.requests if marker in _prompt_of(r["body"]))

    def fault_for(self, prompt: str) -> tuple[Fault, str | None]:
        """The fault planned for this request, and the marker that chose it (None: no plan applies)."""
        for marker, plan in self.faults.items():
            if marker in prompt:
                with self._lock:
                    nth = self._seen[marker]
                    self._seen[marker] += 1
                return (plan[nth] if nth < len(plan) else OK), marker
        return OK, None

    # -- one request

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        prompt = _prompt_of(body)
        with self._lock:
            self.requests.append(
                {"path": handler.path, "auth": handler.headers.get("authorization"), "body": body}
            )
        fault, marker = self.fault_for(prompt)
        if marker is not None:
            with self._lock:
                self.times[marker].append(time.monotonic())
        if self.delay:
            time.sleep(self.delay)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is not None:
            headers = {}
            retry_after = fault.retry_after or (self.retry_after if fault.status == 429 else None)
            if retry_after is not None:
                headers["retry-after"] = retry_after
            message = "rate limited" if fault.status == 429 else f"injected {fault.status}"
            _send(handler, fault.status, {"error": {"message": message, "type": "local_judge"}}, headers)
            return
        if fault.raw_body is not None:
            data = fault.raw_body.encode()
            handler.send_response(200)
            handler.send_header("content-type", fault.content_type)
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        content = MALFORMED_REPLY if fault.malformed else self.reply(prompt)
        if fault.rewrite is not None:
            content = fault.rewrite(content)
        _send(handler, 200, completion(content, str(body.get("model", RULE_JUDGE_MODEL)), prompt))


def token_count(text: str) -> int:
    """The local judge's stand-in for a tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def completion(content: str, model: str, prompt: str = "") -> dict[str, Any]:
    """A chat-completions response body with one choice, and its usage as :func:`token_count` says."""
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": token_count(prompt),
            "completion_tokens": token_count(content),
            "total_tokens": token_count(prompt) + token_count(content),
        },
    }


def _prompt_of(body: dict[str, Any]) -> str:
    """The last user message's text (content may be a string or a list of parts)."""
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role", "user") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""


def _send(h: BaseHTTPRequestHandler, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
    data = json.dumps(obj).encode()
    h.send_response(status)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(data)


def _make_handler(server: LocalJudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API servers do: no new connection per call
        disable_nagle_algorithm = True  # else headers and body as two writes wait on a delayed ACK (~40 ms)

        def log_message(self, *args: Any) -> None:
            pass  # one line per request on stderr would bury the caller's output

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def do_GET(self) -> None:
            # `GET /v1/models` lets a user check the server with curl or `client.models.list()`.
            if self.path.rstrip("/").endswith("/models"):
                _send(self, 200, {"object": "list", "data": [{"id": RULE_JUDGE_MODEL, "object": "model"}]})
            else:
                _send(self, 404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                _send(self, 404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                _send(self, 400, {"error": {"message": f"bad request body: {exc}"}})
                return
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                server._answer(self, body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client timed out and hung up
            finally:
                with server._lock:
                    server.in_flight -= 1

    return Handler


# ---------------------------------------------------------------- in its own process


@contextmanager
def judge_in_subprocess(*, delay: float = 0.0, port: int = 0) -> Iterator[str]:
    """Run the judge as ``python -m hadpo_cli.testing.local_judge``; yields its base URL.

    For timings: in the caller's process the server's threads would compete with the client
    for the GIL, and a benchmark would measure that instead of the client.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--port", str(port), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # the first line is the URL, once the socket is open
        if not url.startswith("http"):
            raise RuntimeError(f"the local judge did not start (exit status {proc.wait(timeout=10)})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="A local OpenAI-compatible judge (rule-based, for the demo's toy world): SHR sentence "
        "labels, MMHal-Bench ratings, and hadpo pairs' detect and rewrite steps. "
        "Prints its base URL, then serves until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=0, help="Port on 127.0.0.1 (0 = any free port).")
    parser.add_argument("--delay", type=float, default=0.0, help="Seconds every reply takes.")
    args = parser.parse_args(argv)
    try:
        server = LocalJudgeServer(delay=args.delay, port=args.port).bind()
    except OSError as exc:
        print(f"error: cannot listen on {HOST}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # Stdout carries just the URL, so a parent process (or `$(...)`) can read it.
    print(server.base_url, flush=True)
    print(
        f"local judge on {server.base_url} (judge model {RULE_JUDGE_MODEL!r}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
