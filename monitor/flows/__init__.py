"""Flows: gather → decide → apply. The only code that opens and commits transactions.

Each flow gathers its inputs (stored state, responses, the clock passed in), lets the pure
core decide, and applies the decision through the adapters. The daemon and the CLI call the
same flows; neither holds business rules of its own.
"""
