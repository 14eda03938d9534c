"""Presentation: Graphviz process maps (``maps``), matplotlib charts (``charts``) and the report
templates with their file and spreadsheet output (``report``).

Renders what it is handed and computes nothing; its inputs are typed with its own small
protocols, so it imports no analysis code.
"""
