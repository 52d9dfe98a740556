"""`make bench`: the gateway's speed, accuracy and cost next to baselines measured in the same run.

    python -m tests.bench.run [--quick] [--only NAME,...] [--json PATH] [--profile]

See run.py for what is measured and how.
"""
