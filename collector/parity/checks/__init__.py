"""The checks of an evaluation, one module per layer.

``infrastructure``, ``data``, ``prediction``, ``outcome`` and ``fingerprint`` each
judge their layer (or the fingerprint dimensions); ``drift`` holds the distribution
checks the data and prediction layers share. Every row is built by
``builder.make_check``, named in ``check_specs`` and reporting the threshold that
judged it.
"""
