"""ytsync's metrics (ytsync.metrics) through a Temporal runtime's meter, so they are
served by the same Prometheus endpoint as the SDK's own."""

from __future__ import annotations

import threading

from temporalio.common import MetricCounter, MetricGaugeFloat, MetricMeter

from ytsync.metrics import Kind, Labels, Metric


class TemporalMetrics:
    """``ytsync.metrics.Metrics`` on ``meter`` (e.g. ``Runtime.metric_meter``); each
    instrument is made on first use."""

    def __init__(self, meter: MetricMeter) -> None:
        self._meter = meter
        self._counters: dict[str, MetricCounter] = {}
        self._gauges: dict[str, MetricGaugeFloat] = {}
        self._lock = threading.Lock()

    def add(self, metric: Metric, value: int, labels: Labels) -> None:
        assert metric.kind is Kind.COUNTER, metric.name
        with self._lock:
            counter = self._counters.get(metric.name)
            if counter is None:
                counter = self._counters[metric.name] = self._meter.create_counter(
                    metric.name, metric.description, metric.unit or None
                )
        counter.add(value, dict(labels))

    def set(self, metric: Metric, value: float, labels: Labels) -> None:
        assert metric.kind is Kind.GAUGE, metric.name
        with self._lock:
            gauge = self._gauges.get(metric.name)
            if gauge is None:
                gauge = self._gauges[metric.name] = self._meter.create_gauge_float(
                    metric.name, metric.description, metric.unit or None
                )
        gauge.set(float(value), dict(labels))
