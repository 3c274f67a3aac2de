"""Dedup (筛重整合): decides whether a report is a new case or joins an existing one."""
