"""The application around the Asana source: the `asana-dlt` command line and what it runs.

`asana_dlt/` is the dlt source, copyable alone into any dlt project; this package is
everything else the repository's command line, orchestrators and bench need besides it
(options, destinations, runs and their report, the demo, unattended-run safety, process
memory, the analytics build, the lakehouse run). It imports the source; the source never
imports it. The modules import nothing heavy at package import, so `asana_app.process_memory`
stays cheap for the bench's children.
"""

from pathlib import Path

# The checkout this package runs from (an editable install keeps it there): the dbt project, the
# notebook, requirements.txt and the demo's folder are found from here, never from the working
# directory, so the command works from any folder and two checkouts never share a demo.
CHECKOUT = Path(__file__).resolve().parents[1]
