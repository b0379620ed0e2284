"""Latency benchmarks: desktop (paper 001's train / batch-mode / single-instance method,
`desktop.py`) and this host as a device running a converted artifact (`host.py`), with
shared statistics (`stats.py`), memory tracking (`memory.py`), the environment record
(`environment.py`) and the papers' tables for the reproduction check (`paper_reference.py`)."""
