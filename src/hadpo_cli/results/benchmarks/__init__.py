"""One module per benchmark; each calls :func:`hadpo_cli.results.registry.register` at import.

Every module in this package is imported by :func:`hadpo_cli.results.registry.benchmarks`, so a
new benchmark (CHAIR, AMBER, MMHal-Bench, ...) is one new file here and nothing else.
"""
