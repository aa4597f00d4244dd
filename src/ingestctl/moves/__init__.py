"""Moving consumer groups (rollback, groups reset) and sink connectors: pure planners
(planners.py), plans read from the cluster (plan.py), saved plan files (planfile.py), drift
between a plan and the cluster (drift.py), applying a plan (apply.py), and connector moves
(connectors.py)."""
