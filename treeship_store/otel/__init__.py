"""OpenTelemetry export (pip install 'treeship-store[otel]'): sessions as
GenAI traces over OTLP/HTTP (otlp.py), each span sent once (export.py). The
mapping itself, events to spans, is treeship_store.spans, which imports no
OpenTelemetry package; opentelemetry-proto is imported only here."""

from .export import ExportReport, Exporter
from .otlp import Collector, collector

__all__ = ["Collector", "ExportReport", "Exporter", "collector"]
