"""The jobs table (DTR's jobrunner queue): jobs, their log lines, crons and the workers.

A low layer (beside ``events``) so domain code can queue work in its own transaction without
importing ``moorage.jobs``, which runs the work.
"""
