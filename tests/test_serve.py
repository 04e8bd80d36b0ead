"""`nerwin serve`: the HTTP API through a client, its limits and errors, the same labels as the
Python API, and the page in a real browser."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import nerwin  # noqa: E402
from nerwin.tools.serve import Limits, create_app  # noqa: E402

from conftest import assert_clean_error, chromium, overflowing, run, start_server, trained  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return trained(tmp_path_factory, "serve", "--target", "all", "--epochs", "3")


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(nerwin.load(model), model, Limits(max_body=20_000, max_texts=5, max_tokens=50)))


def test_every_endpoint(client, model):
    assert client.get("/healthz").json() == {"status": "ok"}
    m = client.get("/v1/model").json()
    assert m["kind"] == "sentence" and m["labels"][0] == "O" and m["transitions"]["scores"]
    from nerwin.tools.report import colors
    assert m["colors"] == colors(sorted({l[2:] for l in m["labels"] if l != "O"}))     # as the report colours them
    t = m["transitions"]                                    # IOB2's forbidden transitions are null, not 0.0
    scores = dict(((f, to), v) for f, row in zip(t["from"], t["scores"]) for to, v in zip(t["to"], row))
    assert scores["O", "I-LOC"] is None and scores["start", "I-PER"] is None and scores["B-LOC", "I-PER"] is None
    assert scores["B-LOC", "I-LOC"] is not None and scores["O", "end"] is not None
    assert m["training"]["dev"]["f1"] > 0 and "<svg" in m["training"]["curves_svg"]
    text = "Anna Lindqvist flew to Lisbon on Monday ."
    doc = client.post("/v1/tag", json={"text": text}).json()
    tagger = nerwin.load(model)
    want = tagger.tag(text)
    assert doc["labels"] == want.labels and doc["tokens"] == want.tokens
    for e in doc["entities"]:
        assert text[e["start_char"]:e["end_char"]] == e["text"] and 0 < e["confidence"] <= 1
    batch = client.post("/v1/tag", json={"texts": [text, "Paris is big ."]}).json()["docs"]
    assert [d["labels"] for d in batch] == [d.labels for d in tagger.tag_many([text, "Paris is big ."])]
    toks = client.post("/v1/tag", json={"tokens": ["Paris", "is", "big"]}).json()
    assert toks["labels"] == tagger.tag(["Paris", "is", "big"]).labels and toks["offsets"] is None
    ex = client.post("/v1/explain", json={"text": text}).json()
    assert len(ex) == 8 and len(ex[0]["window"]) == 5 and abs(sum(ex[0]["distribution"].values()) - 1) < 1e-6
    one = client.post("/v1/explain", json={"text": text, "token": 4}).json()
    assert len(one) == 1 and one[0]["token"] == "Lisbon"
    schema = client.get("/openapi.json").json()
    assert {"/v1/tag", "/v1/explain", "/v1/model", "/healthz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 404            # its scripts would come from a CDN
    page = client.get("/").text
    assert "<script" in page and "src=" not in page and "http" not in page.split("<script")[1].split("fetch(")[0]


@pytest.mark.parametrize("body,status,words", [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({}).encode(), 422, "exactly one"),
    (json.dumps({"text": 3}).encode(), 422, '"text"'),
    (json.dumps({"text": "a", "texts": ["b"]}).encode(), 422, "exactly one"),
    (json.dumps({"tokens": ["a", ""]}).encode(), 422, '"tokens"'),
    (json.dumps({"texts": ["a", None]}).encode(), 422, '"texts"'),
    (json.dumps({"texts": ["a"] * 6}).encode(), 413, "limit"),
    (json.dumps({"text": "a " * 60}).encode(), 413, "limit"),
    (json.dumps({"text": "a", "min_confidence": 2}).encode(), 422, "min_confidence"),
    (b'{"text": "' + b"a" * 30_000 + b'"}', 413, "larger"),
])
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(client, body, status, words):
    r = client.post("/v1/tag", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and words in r.json()["error"], r.text
    assert "Traceback" not in r.text


@pytest.mark.parametrize("path,extra", [("/v1/tag", {}), ("/v1/explain", {}), ("/v1/graph", {"token": 0})])
def test_the_token_limit_counts_tokens_as_the_model_does_not_whitespace_chunks(client, path, extra):
    # one chunk of 60 tokens: a whitespace count saw 1 and let ~500 KB of such text through explain
    r = client.post(path, json={"text": "a," * 30, **extra})
    assert r.status_code == 413 and "60 tokens; the limit is 50" in r.json()["error"], r.text
    assert client.post(path, json={"text": "a," * 25, **extra}).status_code == 200
    r = client.post("/v1/tag", json={"texts": ["Paris", "a," * 30]})
    assert r.status_code == 413 and "text 1 has 60" in r.json()["error"]


def test_explain_errors(client):
    assert client.post("/v1/explain", json={"text": "Paris", "token": 5}).status_code == 422
    assert client.post("/v1/explain", json={"text": "   "}).status_code == 422
    assert client.post("/v1/explain", json={"texts": ["a"]}).status_code == 422
    assert client.post("/v1/explain", json={"text": "a", "token": "x"}).status_code == 422


@pytest.mark.parametrize("path,body,field,hint", [
    ("/v1/tag", {"text": "Paris", "min_confidenc": 0.9}, "min_confidenc", "min_confidence"),
    ("/v1/tag", {"text": "Paris", "token": 0}, "token", "tokens"),            # explain's field, sent to tag
    ("/v1/explain", {"text": "Paris", "min_confidence": 0.9}, "min_confidence", None),
    ("/v1/explain", {"text": "Paris", "tokn": 0}, "tokn", "token"),
    ("/v1/graph", {"text": "Paris", "token": 0, "lable": "B-LOC"}, "lable", "label"),
])
def test_a_field_an_endpoint_does_not_read_is_refused_not_ignored(client, path, body, field, hint):
    r = client.post(path, json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error.startswith(f'unknown field "{field}"') and path in error, error
    assert (f'did you mean "{hint}"?' in error) if hint else "did you mean" not in error, error
    del body[field]
    assert client.post(path, json=body).status_code == 200


def test_graph_endpoint_gives_the_model_graph_and_its_drawing(client, model):
    r = client.post("/v1/graph", json={"text": "Angela Merkel visited Berlin", "token": 3, "label": "B-LOC", "step": 0.1})
    assert r.status_code == 200, r.text
    d = r.json()
    direct = nerwin.load(model).graph("Angela Merkel visited Berlin", 3, label="B-LOC", step=0.1)
    assert [n["name"] for n in d["graph"]["nodes"]] == [n.name for n in direct.nodes]
    assert d["graph"]["J"] == pytest.approx(direct.J, rel=1e-12) and d["graph"]["against"] == "gold"
    assert d["svg"].startswith("<svg") and 'data-node="J"' in d["svg"]
    assert d["graph"]["step"]["J_after"] < d["graph"]["step"]["J_before"]
    for body, what in (({"text": "Paris", "token": 5}, "out of range"), ({"text": "   ", "token": 0}, "no tokens"),
                       ({"text": "Paris", "token": 0, "label": "B-XYZ"}, "not a label"),
                       ({"text": "Paris"}, "integer"), ({"texts": ["a"], "token": 0}, "texts"),
                       ({"text": "Paris", "token": 0, "step": "big"}, "number"),
                       ({"text": "Paris", "token": 0, "step": -1}, "step")):
        r = client.post("/v1/graph", json=body)
        assert r.status_code == 422 and what in r.json()["error"], (body, r.text)


@pytest.fixture(scope="module")
def server(model):
    p, port = start_server(model)
    yield f"http://127.0.0.1:{port}"
    p.terminate()
    p.wait(timeout=10)


def test_the_page_in_a_real_browser(server, tmp_path):
    with chromium(400) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        driver.get(server)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: "tokens" in d.find_element(By.ID, "status").text)
        box = driver.find_element(By.ID, "text")
        box.clear()
        box.send_keys("Barack Obama met Angela Merkel in Berlin <script>alert(1)</script> .")
        driver.find_element(By.ID, "go").click()
        wait.until(lambda d: "alert" in d.find_element(By.ID, "sentence").text
                   and "entities" in d.find_element(By.ID, "status").text)
        ents = driver.find_elements(By.CSS_SELECTOR, "#sentence .ent")
        assert ents and all(0 < float(e.get_attribute("data-confidence")) <= 1 for e in ents)
        assert {e.get_attribute("data-type") for e in ents} <= {"PER", "LOC", "ORG", "MISC"}
        assert "< script >" in driver.find_element(By.ID, "sentence").text        # text, never markup
        assert not driver.find_elements(By.CSS_SELECTOR, "#sentence script")
        word = next(t for t in driver.find_elements(By.CSS_SELECTOR, ".tok[data-i]") if t.text == "Berlin")
        word.click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explain tr[data-word]"))
        window = [r.get_attribute("data-word") for r in driver.find_elements(By.CSS_SELECTOR, "#explain tr[data-word]")]
        assert len(window) == 5 and window[2] == "Berlin"
        assert driver.find_elements(By.CSS_SELECTOR, "#dist tr")
        assert not driver.find_element(By.ID, "transitions-box").get_attribute("hidden")
        assert driver.find_elements(By.CSS_SELECTOR, "#transitions td.forbidden")        # shown as −∞, not 0.0
        assert "-0.0" not in driver.find_element(By.ID, "transitions").text
        # the click opened the word's computation graph: focus a node and read its numbers
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg.graph .node[data-node='z']"))
        driver.execute_script("document.querySelector(\"#graph .node[data-node='z']\").focus()")
        wait.until(lambda d: "z (add" in d.find_element(By.ID, "graph-detail").text)
        value = driver.find_element(By.CSS_SELECTOR, "#graph-detail .graph-value").text
        grad = driver.find_element(By.CSS_SELECTOR, "#graph-detail .graph-grad").text
        assert value.startswith("v: ‖·‖") and grad.startswith("v̄: ‖·‖"), (value, grad)
        assert "z̄ = δ = h̄ ∘ f′(z)" in driver.find_element(By.ID, "graph-detail").text
        assert driver.find_elements(By.CSS_SELECTOR, "#graph .node[data-node='e[+0]']")
        driver.save_screenshot(str(os.environ.get("NERWIN_PAGE_SHOT", tmp_path / "page.png")))
        assert driver.execute_script("return document.documentElement.clientWidth") <= 400
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 400, overflowing(driver)

        def tag(text):
            box.clear()
            box.send_keys(text)
            driver.find_element(By.ID, "go").click()

        def panels():                                          # the token panel is back to its prompt
            token, window, graph = (driver.find_element(By.ID, p).text.strip() for p in ("token", "window", "graph"))
            return [token.startswith("Click a word") or token, window, graph]

        tag("Rome is far .")                                   # a new sentence: nothing of the last one stays
        wait.until(lambda d: "Rome" in d.find_element(By.ID, "sentence").text)
        assert panels() == [True, "", ""], panels()
        next(t for t in driver.find_elements(By.CSS_SELECTOR, ".tok[data-i]") if t.text == "Rome").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explain tr[data-word]"))
        tag("Anna \u202eflew to Paris http://example.com/" + "a" * 200 + " today")   # a stray bidi override, a long URL
        wait.until(lambda d: "today" in d.find_element(By.ID, "sentence").text)
        at = {t.text: t.rect for t in driver.find_elements(By.CSS_SELECTOR, ".tok[data-i]")}
        assert at["to"]["y"] == at["Paris"]["y"] and at["to"]["x"] < at["Paris"]["x"], at   # not reversed by it
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 400, overflowing(driver)
        tag("a " * 600)                                        # over the token limit: an error, and empty panels
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#status .err"))
        assert panels() == [True, "", ""] and not driver.find_element(By.ID, "sentence").text.strip(), panels()


def test_serve_without_the_extra_says_how_to_install(tmp_path, model):
    code = ("import sys; sys.modules['fastapi'] = None; sys.argv = ['nerwin'] + sys.argv[1:]; "
            "from nerwin.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "serve", "--model", str(model)], capture_output=True, text=True)
    assert r.returncode == 2 and "pip install 'nerwin[serve]'" in r.stderr


def test_an_oversized_body_from_urllib_gets_its_413(server):
    """urllib sends the whole body before it reads the answer: the server must read it to be heard."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"{server}/v1/tag", data=b"x" * (20 << 20), headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 413 and "larger than" in json.loads(e.value.read())["error"]
    ok = urllib.request.urlopen(urllib.request.Request(f"{server}/v1/tag", data=b'{"text": "Paris ."}'), timeout=30)
    assert json.loads(ok.read())["tokens"] == ["Paris", "."]              # and it still answers


def test_unknown_paths_and_methods_get_nerwins_json_error(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "error" in r.json() and "detail" not in r.json()
    r = client.delete("/v1/tag")
    assert r.status_code == 405 and "error" in r.json()
    assert 'rel="icon"' in client.get("/").text


def test_serve_says_a_missing_model_or_a_taken_port_before_it_says_it_serves(model, tmp_path):
    r = run("serve", "--model", tmp_path / "none")
    assert_clean_error(r, "no such model directory")
    assert "serving" not in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = run("serve", "--model", model, "--port", taken.getsockname()[1])
    assert_clean_error(r, "cannot listen")
    assert "serving" not in r.stderr


@pytest.mark.parametrize("body,headers,status", [
    (b"[" * 9_000 + b"]" * 9_000, {"content-type": "application/json"}, 400),           # nests past the stack
    (b'{"text": "caf\xe9"}', {"content-type": "application/json"}, 400),                # not UTF-8
    (b'{"text": "Paris"}', {"content-type": "text/plain"}, 200),                       # read as JSON all the same
    (json.dumps({"tokens": ["x" * 15_000]}).encode(), {"content-type": "application/json"}, 200),   # one huge token
], ids=["deep", "latin-1", "text/plain", "huge-token"])
def test_odd_bodies_get_a_json_answer_never_a_5xx(client, body, headers, status):
    r = client.post("/v1/tag", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert client.get("/healthz").json() == {"status": "ok"}


def test_no_cors_unless_asked_and_odd_paths_stay_404(client):
    r = client.post("/v1/tag", json={"text": "Paris"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/page.html", "/?x=" + "a" * 5000):
        r = client.get(path)
        assert r.status_code in (200, 404) and "root:" not in r.text


@pytest.fixture(scope="module")
def serving(models):
    """-> (the server process, its port)."""
    p, port = start_server(models["binary"])
    yield p, port
    if p.poll() is None:
        p.terminate()
        p.wait(timeout=20)


def test_200_concurrent_clients_all_get_their_own_answer(serving):
    _, port = serving
    out, errors = {}, []

    def client(i):
        try:
            body = json.dumps({"text": f"Client {i} visited Paris ."}).encode()
            r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag", data=body),
                                       timeout=60)
            out[i] = json.loads(r.read())["tokens"]
        except Exception as e:                       # noqa: BLE001 - collected and reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(out) == 200 and all(out[i][1] == str(i) for i in out)


def test_slow_clients_do_not_stall_the_others(serving):
    """Clients that send their body a byte at a time leave /healthz and /v1/tag answering, and
    SIGTERM still stops the server promptly while some of them hold their connections."""
    proc, port = serving
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{")
        slow.append(s)
    try:
        t0 = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
        r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag",
                                                          data=b'{"text": "Paris ."}'), timeout=10)
        assert json.loads(r.read())["tokens"] == ["Paris", "."]
        assert time.perf_counter() - t0 < 5
        for s in slow[:10]:                          # the others stay open: stopping must not wait for them
            s.close()
    finally:
        t0 = time.perf_counter()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        for s in slow:
            s.close()
    assert proc.poll() is not None and time.perf_counter() - t0 < 10     # SIGTERM stops it promptly


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


@pytest.fixture
def own_server(models):
    """A server of its own: the slow-clients test stops the module's one."""
    p, port = start_server(models["binary"])
    yield p, port
    p.terminate()
    p.wait(timeout=20)


def test_100k_tokens_get_a_413_the_largest_allowed_batch_is_tagged_and_memory_stays_bounded(own_server):
    p, port = own_server

    def post(body):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, answer = post({"tokens": ["Paris"] * 100_000})
    assert status == 413 and "limit" in answer["error"]
    full = {"texts": [" ".join(["Paris"] * 512)] * 256}          # the default limits' largest batch
    status, answer = post(full)
    assert status == 200 and len(answer["docs"]) == 256 and len(answer["docs"][0]["tokens"]) == 512
    after_one = rss_mb(p.pid)
    for _ in range(4):
        assert post(full)[0] == 200
    assert rss_mb(p.pid) < after_one + 100                        # no growth from request to request
    assert post({"text": "Anna flew to Lima ."})[0] == 200


@pytest.mark.parametrize("workers, spin", [(1, None), (2, "10")])
def test_serves_worker_processes_let_their_blas_threads_sleep(model, monkeypatch, workers, spin):
    """Each of uvicorn's workers runs OpenBLAS's two threads; spinning between calls, four of them
    on two cores took the cores from each other (--workers 2 gave no more tokens/s than one)."""
    import uvicorn
    from nerwin.apply.predict import SPIN
    from nerwin.tools.serve import serve
    monkeypatch.delenv(SPIN, raising=False)
    monkeypatch.delenv("GOTO_THREAD_TIMEOUT", raising=False)
    for name in ("NERWIN_SERVE_MODEL", "NERWIN_SERVE_LIMITS"):      # serve sets them: put back after
        monkeypatch.setenv(name, "")
    seen = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append((os.environ.get(SPIN), k["workers"])))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve(model, "127.0.0.1", port, workers, Limits())
    assert seen == [(spin, workers)]                  # what the worker processes start with
    assert SPIN not in os.environ                     # and the caller's environment after
