"""The one small runtime every service runs on: event store + outbox relay + batch
consumer with tracking + dead letters + HTTP probes and metrics."""
