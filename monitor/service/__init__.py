"""The long-running process (`monitor run`): life cycle, job scheduling, the instance lock,
shutdown, watchlist reload, the health endpoint and metrics. No business rules: every job
calls a flow.
"""
