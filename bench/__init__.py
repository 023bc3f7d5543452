"""Benchmarks of the Asana source against asana_sim: `python bench/run.py --help`."""
