"""Prometheus metrics without a dependency: counters, gauges, summaries, a /metrics server.

Thread-safe; the text format is Prometheus exposition format 0.0.4.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LabelKey = tuple[tuple[str, str], ...]


def _fmt_labels(labels: LabelKey) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self._lock = threading.Lock()

    def samples(self) -> Iterable[tuple[str, LabelKey, float]]:  # pragma: no cover
        raise NotImplementedError

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for name, labels, value in self.samples():
            lines.append(f"{name}{_fmt_labels(labels)} {value:.17g}")
        return "\n".join(lines)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str) -> None:
        super().__init__(name, help)
        self._values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items())) if labels else ()
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def total(self) -> float:
        return sum(self._values.values())

    def samples(self) -> Iterable[tuple[str, LabelKey, float]]:
        with self._lock:
            items = list(self._values.items()) or [((), 0.0)]
        return [
            (f"{self.name}_total" if not self.name.endswith("_total") else self.name, k, v)
            for k, v in items
        ]


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help: str, fn: Callable[[], float] | None = None) -> None:
        super().__init__(name, help)
        self._value = 0.0
        self._fn = fn

    def set(self, value: float) -> None:
        self._value = float(value)

    def value(self) -> float:
        return float(self._fn()) if self._fn else self._value

    def samples(self) -> Iterable[tuple[str, LabelKey, float]]:
        return [(self.name, (), self.value())]


class Summary(_Metric):
    """Count and sum (and the last value) of observations."""

    kind = "summary"

    def __init__(self, name: str, help: str) -> None:
        super().__init__(name, help)
        self.count = 0
        self.sum = 0.0
        self.last = 0.0

    def observe(self, value: float) -> None:
        with self._lock:
            self.count += 1
            self.sum += value
            self.last = value

    def samples(self) -> Iterable[tuple[str, LabelKey, float]]:
        with self._lock:
            return [
                (f"{self.name}_count", (), float(self.count)),
                (f"{self.name}_sum", (), self.sum),
            ]


class Registry:
    def __init__(self, prefix: str = "tlive") -> None:
        self.prefix = prefix
        self._metrics: list[_Metric] = []

    def _add(self, m: _Metric) -> _Metric:
        self._metrics.append(m)
        return m

    def counter(self, name: str, help: str) -> Counter:
        return self._add(Counter(f"{self.prefix}_{name}", help))  # type: ignore[return-value]

    def gauge(self, name: str, help: str, fn: Callable[[], float] | None = None) -> Gauge:
        return self._add(Gauge(f"{self.prefix}_{name}", help, fn))  # type: ignore[return-value]

    def summary(self, name: str, help: str) -> Summary:
        return self._add(Summary(f"{self.prefix}_{name}", help))  # type: ignore[return-value]

    def render(self) -> str:
        return "\n".join(m.render() for m in self._metrics) + "\n"


class MetricsServer:
    """Serves ``GET /metrics`` (and ``/healthz``) from a daemon thread."""

    def __init__(
        self, registry: Registry, host: str, port: int, healthy: Callable[[], bool] = lambda: True
    ) -> None:
        reg = registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/metrics"):
                    body = reg.render().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                elif self.path.startswith("/healthz"):
                    ok = healthy()
                    body = b"ok\n" if ok else b"unhealthy\n"
                    self.send_response(200 if ok else 503)
                    self.send_header("Content-Type", "text/plain")
                else:
                    body = b"not found\n"
                    self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
