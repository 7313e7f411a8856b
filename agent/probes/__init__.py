"""Golden probes: a fixed set of requests replayed against an HTTP endpoint, their answers sent with the snapshot.

The same inputs asked in every environment answer the same where the environments
agree; the collector compares the answers per input (the ``golden`` check). The
inputs are read from a JSON lines file (``inputs``), the outputs taken from each
answer (``outputs``), and a ``Prober`` asks and keeps the latest answers until a
snapshot takes them; ``ProbeAgent`` runs probes alone, without recording requests.
"""
