"""Intake (信息采集): every channel's submission becomes one placed, idempotent report."""
