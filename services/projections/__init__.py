"""Projections: read models built from every service's events (case list, case file)."""
