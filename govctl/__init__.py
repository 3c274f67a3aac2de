"""govctl: run the platform locally (broker, services, demo city) and drive it."""
