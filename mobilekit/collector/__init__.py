"""The collector: wire schemas, HTTP server, storage, reports and the dashboard."""
