"""Slow clients against a server on this machine: how long ordinary requests take while
some clients send their headers, or an upload's body, a byte at a time.

    .venv/bin/python bench/slow_clients.py 127.0.0.1:8000 [--clients 20] [--seconds 15]

Half the clients dribble an endless header block, half an upload body whose headers came
at once; a client the server drops connects again, as an attacker's would. Meanwhile one
ordinary client asks for GET /video/view/all every 0.2 s and the script prints how long
each answer took. Loopback only: it is a load test.
"""

import argparse
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Iterator

HEADERS_FOREVER = b"GET /video/view/all HTTP/1.1\r\nHost: 127.0.0.1\r\n"
UPLOAD_HEADERS = (
    b"PUT /video/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: multipart/form-data; boundary=slow\r\nContent-Length: 1000000\r\n\r\n"
    b'--slow\r\nContent-Disposition: form-data; name="files"; filename="slow.mp4"\r\n\r\n'
)
PROBE_TIMEOUT = 5.0


def header_bytes() -> Iterator[bytes]:
    yield from (bytes([b]) for b in HEADERS_FOREVER)
    for line in itertools.repeat(b"X-Slow: 1\r\n"):
        yield from (bytes([b]) for b in line)


def body_bytes() -> Iterator[bytes]:
    yield UPLOAD_HEADERS
    yield from itertools.repeat(b"x")


class SlowClients:
    """`count` slow clients (half headers, half bodies) sending one byte every `interval`
    seconds, from `with` until its end."""

    def __init__(self, host: str, port: int, count: int, interval: float = 0.5):
        self.address, self.interval = (host, port), interval
        self.kinds = [header_bytes if i % 2 == 0 else body_bytes for i in range(count)]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.connections = self.dropped = 0
        self.threads = [threading.Thread(target=self._run, args=(kind,)) for kind in self.kinds]

    def _count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def _run(self, kind) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection(self.address, timeout=PROBE_TIMEOUT) as sock:
                    self._count("connections")
                    for chunk in kind():
                        sock.sendall(chunk)
                        if self.stop.wait(self.interval):
                            return
            except OSError:  # the server hung up on us: come back, as an attacker would
                self._count("dropped")
                self.stop.wait(self.interval)

    def __enter__(self) -> "SlowClients":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def timed_request(host: str, port: int, path: str = "/video/view/all") -> float:
    """Seconds an ordinary GET took to be answered (any status below 500: what counts is
    that the server answers); PROBE_TIMEOUT if it was not."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status >= 500:
            raise AssertionError(f"GET {path} answered {response.status}")
    except TimeoutError:
        return PROBE_TIMEOUT
    finally:
        connection.close()
    return time.monotonic() - started


def probe(host: str, port: int, seconds: float, every: float = 0.2) -> list[float]:
    """Ordinary requests one after the other for `seconds`: how long each took."""
    took, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        took.append(timed_request(host, port))
        time.sleep(every)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address", help="host:port of the server (on this machine)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    if not host.startswith("127.") and host not in ("localhost", "[::1]"):
        parser.error("only servers on this machine")
    with SlowClients(host, int(port), args.clients) as clients:
        time.sleep(1)  # let them all connect and start dribbling
        took = probe(host, int(port), args.seconds)
    slow = sum(t >= 1 for t in took)
    print(
        f"{args.clients} slow clients ({clients.connections} connections, {clients.dropped} "
        f"dropped by the server): {len(took)} requests, {slow} took >= 1 s, "
        f"max {max(took):.2f} s, median {sorted(took)[len(took) // 2]:.3f} s"
    )


if __name__ == "__main__":
    main()
