"""`nerwin serve` under load, against `tag_many` in-process in the same run.

Starts the server on loopback with a model trained on BTC, then for --seconds each:
  - 8 concurrent clients sending one-sentence requests: requests/s, tokens/s, p50 and p99 latency;
  - 2 concurrent clients sending batches of 256 sentences: tokens/s against tag_many in-process;
  - the one-sentence load again with 10,000 malformed or oversized requests mixed in: the status
    codes seen (no 5xx), and the server's memory before and after;
  - 4 concurrent clients sending batches, to the server and then to one started with --workers 2.
Every request goes to 127.0.0.1 only, and every loop is bounded in count and time. Writes the
docs section `serve`.

    python scripts/bench/bench_serve.py [--seconds 20]
"""
import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
HOST = "127.0.0.1"
MAX_REQUESTS = 200_000
BATCH = 256          # sentences a batch request (the server's default limit)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024


def load(port: int, bodies: list[bytes], clients: int, seconds: float, once: bool = False) -> dict:
    """clients threads, each on its own connection, send bodies round-robin until seconds pass
    (or, with once, until every body has been sent once)."""
    lat, codes, lock = [], {}, threading.Lock()
    stop = time.perf_counter() + seconds
    sent = [0]
    limit = len(bodies) if once else MAX_REQUESTS

    def client(k: int):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.perf_counter() < stop:
            with lock:
                if sent[0] >= limit:
                    break
                body = bodies[sent[0] % len(bodies)]
                sent[0] += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/tag", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                status = "dropped"
            with lock:
                lat.append(time.perf_counter() - t0)
                codes[status] = codes.get(status, 0) + 1
        conn.close()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"n": len(lat), "wall": wall, "codes": codes, "p50": lat[len(lat) // 2] if lat else 0,
            "p99": lat[int(len(lat) * 0.99)] if lat else 0}


def start(model: Path, port: int, workers: int = 1) -> subprocess.Popen:
    """`nerwin serve` on loopback, once it answers."""
    server = subprocess.Popen([sys.executable, "-m", "nerwin", "serve", "--model", model, "--port", str(port),
                               "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    return server


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    import nerwin
    from nerwin.text.corpus import read_conll
    sents = [" ".join(s.tokens) for s in read_conll(BTC / "test.conll")]
    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "m"
        subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", BTC / "train.conll", "--dev",
                        BTC / "dev.conll", "--target", "all", "--out", model, "-q"], check=True)
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        server = start(model, port)
        try:
            one = [json.dumps({"text": s}).encode() for s in sents]
            batches = [json.dumps({"texts": sents[i:i + BATCH]}).encode() for i in range(0, len(sents) - BATCH, BATCH)]
            load(port, one[:200], 8, 2)                               # warm up
            single = load(port, one, 8, a.seconds)
            tokens_per_req = statistics.mean(len(s.split()) for s in sents)
            batch = load(port, batches, 2, a.seconds)
            tagger = nerwin.load(model)
            t0 = time.perf_counter()
            n = sum(len(doc.tokens) for doc in tagger.tag_many(sents * 5))
            inproc = n / (time.perf_counter() - t0)                   # its own chunks of 2,000 sentences
            t0 = time.perf_counter()
            n = sum(len(d.tokens) for _ in range(5) for i in range(0, len(sents) - BATCH, BATCH)
                    for d in tagger.tag_many(sents[i:i + BATCH]))
            inproc_same = n / (time.perf_counter() - t0)              # the requests' batches
            batch_tps = batch["n"] * BATCH * tokens_per_req / batch["wall"]
            before = rss_mb(server.pid)
            bad = [b"{", b"[]", b'{"text": 3}', b'{"texts": [1]}', b'{"tokens": [""]}',
                   json.dumps({"texts": sents[:300]}).encode(), json.dumps({"text": "a " * 600}).encode(),
                   b'{"text": "' + b"x" * (2 << 20) + b'"}']
            mixed = one[:500] + [bad[i % len(bad)] for i in range(10_000)]
            mixed = [mixed[(i * 7919) % len(mixed)] for i in range(len(mixed))]
            chaos = load(port, mixed, 8, 10 * a.seconds, once=True)
            time.sleep(2)
            after = rss_mb(server.pid)
            four = load(port, batches, 4, a.seconds)
        finally:
            stop(server)
        server = start(model, port, workers=2)
        try:
            load(port, batches[:8], 4, a.seconds, once=True)         # each worker's first requests
            four_two = load(port, batches, 4, a.seconds)
        finally:
            stop(server)
    tps = lambda r: r["n"] * BATCH * tokens_per_req / r["wall"]    # noqa: E731
    five = sum(v for k, v in chaos["codes"].items() if isinstance(k, int) and k >= 500)
    table = "\n".join([
        "| load | requests/s | tokens/s | p50 latency (ms) | p99 latency (ms) | against |",
        "|---|---|---|---|---|---|",
        f"| one sentence a request, 8 clients | {single['n'] / single['wall']:,.0f} | "
        f"{single['n'] * tokens_per_req / single['wall']:,.0f} | {single['p50'] * 1e3:.1f} | **{single['p99'] * 1e3:.1f}** "
        f"| target p99 ≤ 50 ms |",
        f"| {BATCH} sentences a request, 2 clients | {batch['n'] / batch['wall']:,.0f} | **{batch_tps:,.0f}** | "
        f"{batch['p50'] * 1e3:.1f} | {batch['p99'] * 1e3:.1f} | `tag_many` in-process on the same batches: "
        f"{inproc_same:,.0f} tokens/s (**{batch_tps / inproc_same:.2f}×**; target ≥ 0.5×); on its own 2,000-sentence "
        f"chunks: {inproc:,.0f} ({batch_tps / inproc:.2f}×) |",
        f"| one sentence, 8 clients, 10,000 malformed or oversized requests mixed in | "
        f"{chaos['n'] / chaos['wall']:,.0f} | – | {chaos['p50'] * 1e3:.1f} | {chaos['p99'] * 1e3:.1f} | "
        f"status codes {dict(sorted((str(k), v) for k, v in chaos['codes'].items()))}; **{five} 5xx**; server "
        f"memory {before:.0f} MB before, {after:.0f} MB after |",
        f"| {BATCH} sentences a request, 4 clients | {four['n'] / four['wall']:,.0f} | {tps(four):,.0f} | "
        f"{four['p50'] * 1e3:.1f} | {four['p99'] * 1e3:.1f} | |",
        f"| the same, `nerwin serve --workers 2` | {four_two['n'] / four_two['wall']:,.0f} | **{tps(four_two):,.0f}** | "
        f"{four_two['p50'] * 1e3:.1f} | {four_two['p99'] * 1e3:.1f} | **{tps(four_two) / tps(four):.2f}×** one "
        f"process |",
        "", f"BTC test sentences ({tokens_per_req:.1f} tokens on average), a sentence-loss model trained on BTC; "
        f"{a.seconds:.0f} s each, on loopback, the clients in the same machine's other core. "
        f"`python scripts/bench/bench_serve.py --seconds {a.seconds:.0f}`."])
    print(table)
    replace_section("serve", table)


if __name__ == "__main__":
    main()
