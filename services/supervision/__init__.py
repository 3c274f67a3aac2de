"""Supervision (督查督办): deadlines as timers, warnings, overdue marks and escalation."""
