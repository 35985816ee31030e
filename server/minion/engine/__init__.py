"""The engine: creates runs (settings, snapshot, store) and executes them (a blueprint in
the sandbox, to a stored end). It sits above `runs` (what a run is) and `blueprint` (what
a run does); `runs.executor` decides where `execute_run` runs.
"""
