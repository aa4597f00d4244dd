"""Changes to a running pipeline beyond offsets: a connector's state (pause, resume, stop,
restart; connector_changes.py) and the sink-outage rehearsal (rehearsal.py). Plan first,
audited."""
