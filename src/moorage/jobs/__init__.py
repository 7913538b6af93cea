"""Durable background jobs (DTR's jobrunner): queue, runner, schedules and the actions."""
